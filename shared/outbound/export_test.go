package outbound

// MailtoAddress exposes mailtoAddress to the package's external tests.
var MailtoAddress = mailtoAddress
