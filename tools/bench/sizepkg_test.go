package main

import "testing"

func TestSymbolPackage(t *testing.T) {
	for name, want := range map[string]string{
		"github.com/aws/aws-sdk-go-v2/service/dynamodb/schemas.init.0":      "github.com/aws/aws-sdk-go-v2/service/dynamodb",
		"github.com/nyaruka/phonenumbers..gobytes.2":                        "github.com/nyaruka/phonenumbers",
		"type:*github.com/leadluence/backend/shared/lead.Lead":              "github.com/leadluence/backend/shared/lead",
		"github.com/leadluence/backend/shared/dynamostore.(*Store).PutLead": "github.com/leadluence/backend/shared/dynamostore",
		"slices.SortFunc[[]github.com/x/y.T,func(github.com/x/y.T) int]":    "std: slices",
		"crypto/internal/fips140/nistec.p256PrecomputedEmbed":               "std: crypto",
		"golang.org/x/text/language/display.init":                           "golang.org/x/text",
		"go:func.*":        "(linker data: go:func.*, go:string.*, runtime tables)",
		"runtime.mallocgc": "std: runtime",
		"vendor/golang.org/x/net/http2/hpack.init":                         "std: vendor",
		"google.golang.org/protobuf/internal/impl.(*MessageInfo).initOnce": "google.golang.org/protobuf",
		"github.com/danielgtaylor/huma/v2.Register[go.shape.struct {}]":    "github.com/danielgtaylor/huma",
		"github.com/aws/smithy-go/document/internal/serde.PtrToValue":      "github.com/aws/smithy-go",
	} {
		if got := sizeGroup(symbolPackage(name)); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}
