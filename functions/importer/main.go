// Command importer is the Lambda that drains the imports queue: the
// chunks of lead CSV imports.
package main

import (
	"github.com/leadluence/backend/functions/importer/app"
	"github.com/leadluence/backend/shared/lambdamain"
)

func main() { lambdamain.Run("importer", app.New) }
