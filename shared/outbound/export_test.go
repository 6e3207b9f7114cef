package outbound

// MailtoAddress exposes mailtoAddress to the package's external tests.
var MailtoAddress = mailtoAddress

// ShardsOf and ShareOf expose the split of a number's limit.
var (
	ShardsOf = shardsOf
	ShareOf  = shareOf
)
