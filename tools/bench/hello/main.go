// Command hello is the smallest aws-lambda-go function: it echoes its event.
// `make bench` builds it with the same flags as the real functions and uses
// it as the cold-start and binary-size baseline.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev json.RawMessage) (json.RawMessage, error) {
		return ev, nil
	})
}
