package dynamostore_test

import (
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/intake"
	"github.com/leadluence/backend/shared/outbound"
)

// The use-case ports Store implements, checked when the tests compile
// (store.go says why not there).
var (
	_ intake.EventStore      = (*dynamostore.Store)(nil)
	_ intake.Store           = (*dynamostore.Store)(nil)
	_ intake.BackfillStore   = (*dynamostore.Store)(nil)
	_ outbound.Store         = (*dynamostore.Store)(nil)
	_ outbound.PaceStore     = (*dynamostore.Store)(nil)
	_ outbound.SubjectReader = (*dynamostore.Store)(nil)
	_ httpapi.ClientCounter  = (*dynamostore.Store)(nil)
)
