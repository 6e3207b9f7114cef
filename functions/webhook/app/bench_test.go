package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/shared/logging"
)

// noopSender stands in for SQS in the benchmarks only, so they measure the
// handler's own CPU.
type noopSender struct{}

func (noopSender) SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return &sqs.SendMessageOutput{}, nil
}

const benchSize = 64 << 10

// BenchmarkWebhook64KB is the handler's CPU per request for a signed 64 KB
// WhatsApp batch, from the API Gateway event to the (no-op) SendMessage and
// the 200, logging included. Compare it with BenchmarkHMACAndValid64KB.
func BenchmarkWebhook64KB(b *testing.B) {
	body, _ := whatsappBatch(benchSize)
	h, err := app.NewHandler(app.Deps{
		Queue: noopSender{}, QueueURL: "http://127.0.0.1:1/000000000000/intake",
		AppSecret: []byte(devAppSecret), VerifyToken: []byte(devVerifyToken),
		Log: logging.New(io.Discard, slog.LevelInfo),
	})
	if err != nil {
		b.Fatal(err)
	}
	ev := signedPost(b, body)
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := h(ctx, ev)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("status %d, err %v", resp.StatusCode, err)
		}
	}
}

// BenchmarkWebhook64KBOwnerFilter is BenchmarkWebhook64KB with the owner
// filter (owners.go) on, its number owned and remembered: the cost of
// reading the page or number of each change before enqueueing.
func BenchmarkWebhook64KBOwnerFilter(b *testing.B) {
	body, _ := whatsappBatch(benchSize)
	h, err := app.NewHandler(app.Deps{
		Queue: noopSender{}, QueueURL: "http://127.0.0.1:1/000000000000/intake",
		AppSecret: []byte(devAppSecret), VerifyToken: []byte(devVerifyToken),
		Log:    logging.New(io.Discard, slog.LevelInfo),
		Owners: &fakeOwners{owned: map[string]bool{"whatsapp#106540352242922": true}},
	})
	if err != nil {
		b.Fatal(err)
	}
	ev := signedPost(b, body)
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := h(ctx, ev)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("status %d, err %v", resp.StatusCode, err)
		}
	}
}

// BenchmarkHMACAndValid64KB is the floor the webhook is measured against:
// HMAC-SHA256 of the same bytes plus json.Valid over them.
func BenchmarkHMACAndValid64KB(b *testing.B) {
	body, _ := whatsappBatch(benchSize)
	key := []byte(devAppSecret)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, key)
		m.Write(body)
		if len(m.Sum(nil)) != sha256.Size || !json.Valid(body) {
			b.Fatal("bad")
		}
	}
}
