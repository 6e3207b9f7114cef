package outbound

// ShardsOf and ShareOf expose the split of a number's limit.
var (
	ShardsOf = shardsOf
	ShareOf  = shareOf
)
