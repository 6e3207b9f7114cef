package outbound_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"

	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// newTable provisions the table under a unique prefix and returns two
// separate clients, as two sender invocations would have.
func newTable(t *testing.T) (a, b *dynamodb.Client, table string) {
	t.Helper()
	ctx := context.Background()
	// DynamoDB Local answers refused conditions with a CRC the SDK warns about.
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(logging.Nop{}))
	if err != nil {
		t.Fatal(err)
	}
	return dynamodb.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg), devstacktest.Fresh(t).TableName
}

// TestNumberLimitHoldsAcrossLimiters runs two limiters (two invocations)
// against one number at 5 sends a second, each with several workers asking
// for slots as fast as they can: no one-second window ever grants more than
// 5.
func TestNumberLimitHoldsAcrossLimiters(t *testing.T) {
	dbA, dbB, table := newTable(t)
	const (
		number  = "106540352242922"
		limit   = 5
		workers = 6
		perWork = 5 // 2 limiters × 6 workers × 5 = 60 grants: about 12 windows
	)
	ctx := context.Background()
	var (
		mu      sync.Mutex
		windows = map[int64]int{}
		wg      sync.WaitGroup
	)
	for _, p := range []*outbound.Pacer{outbound.NewPacer(dynamostore.New(dbA, table)), outbound.NewPacer(dynamostore.New(dbB, table))} {
		for range workers {
			wg.Go(func() {
				for range perWork {
					var (
						w   time.Time
						err error
					)
					for {
						w, err = p.TakeNumberSlot(ctx, number, limit, 2*time.Second)
						var pe *outbound.PacedError
						if !errors.As(err, &pe) {
							break
						}
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					windows[w.Unix()]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()

	secs := make([]int64, 0, len(windows))
	total := 0
	for s, n := range windows {
		secs = append(secs, s)
		total += n
		if n > limit {
			t.Errorf("window %d granted %d sends, limit %d", s, n, limit)
		}
	}
	if total != 2*workers*perWork {
		t.Fatalf("granted %d, want %d", total, 2*workers*perWork)
	}
	slices.Sort(secs)
	// Windows between the first and the last were contended; how full they
	// got depends on the machine's speed, so it is reported, not asserted.
	used := 0
	for _, s := range secs[1 : len(secs)-1] {
		used += windows[s]
	}
	if mid := len(secs) - 2; mid > 0 {
		t.Logf("%d windows; contended ones used %.0f%% of the limit", len(secs), 100*float64(used)/float64(mid*limit))
	}
	// The counters in the table agree.
	for _, s := range secs {
		out, err := dbA.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "RATE#" + number}, "SK": &types.AttributeValueMemberS{Value: strconv.FormatInt(s, 10)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := out.Item["count"].(*types.AttributeValueMemberN)
		if n == nil || n.Value != strconv.Itoa(windows[s]) {
			t.Errorf("window %d: stored count %v, granted %d", s, out.Item["count"], windows[s])
		}
	}
}

// TestPairSchedule books slots for one recipient from two limiters at the
// same instant: two go at once (the burst), then one every interval, and no
// two bookings share a later slot.
func TestPairSchedule(t *testing.T) {
	dbA, dbB, table := newTable(t)
	now := time.Now().Truncate(time.Millisecond)
	clock := func() time.Time { return now }
	pa, pb := outbound.NewPacer(dynamostore.New(dbA, table)), outbound.NewPacer(dynamostore.New(dbB, table))
	pa.Now, pb.Now = clock, clock
	ctx := context.Background()

	var (
		mu    sync.Mutex
		slots []time.Duration
		wg    sync.WaitGroup
	)
	for i := range 8 {
		p := pa
		if i%2 == 1 {
			p = pb
		}
		wg.Go(func() {
			at, err := p.BookPair(ctx, "106540352242922", "919812345678")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			slots = append(slots, at.Sub(now))
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(slots)
	want := []time.Duration{0, 0, 6 * time.Second, 12 * time.Second, 18 * time.Second, 24 * time.Second, 30 * time.Second, 36 * time.Second}
	if !slices.Equal(slots, want) {
		t.Fatalf("slots %v, want %v", slots, want)
	}
	// Another recipient of the same number is not affected.
	if at, err := pa.BookPair(ctx, "106540352242922", "447700900123"); err != nil || !at.Equal(now) {
		t.Fatalf("other recipient slot %v (%v), want now", at, err)
	}
	// Once the schedule has run out, the burst is available again.
	later := now.Add(time.Minute)
	pa.Now = func() time.Time { return later }
	for range 2 {
		if at, err := pa.BookPair(ctx, "106540352242922", "919812345678"); err != nil || !at.Equal(later) {
			t.Fatalf("slot after idle %v (%v), want %v", at, err, later)
		}
	}
}

func TestBookings(t *testing.T) {
	db, _, table := newTable(t)
	p := outbound.NewPacer(dynamostore.New(db, table))
	ctx := context.Background()
	if _, ok, err := p.TakeBooking(ctx, "org", "msg"); ok || err != nil {
		t.Fatalf("booking before any: %v %v", ok, err)
	}
	at := time.Now().Add(40 * time.Second).Truncate(time.Millisecond)
	if err := p.SaveBooking(ctx, "org", "msg", at); err != nil {
		t.Fatal(err)
	}
	got, ok, err := p.TakeBooking(ctx, "org", "msg")
	if err != nil || !ok || !got.Equal(at) {
		t.Fatalf("booking %v %v %v, want %v", got, ok, err, at)
	}
	if _, ok, _ := p.TakeBooking(ctx, "org", "msg"); ok {
		t.Fatal("a booking was taken twice")
	}
	if p.Late(at, at.Add(6*time.Second)) || !p.Late(at, at.Add(7*time.Second)) {
		t.Fatal("lateness tolerance is not the burst")
	}
}

// A limit is split into shares that differ by at most one and add up to it.
func TestLimitShares(t *testing.T) {
	for _, tc := range []struct{ limit, shards int }{{1, 1}, {80, 1}, {250, 1}, {251, 2}, {1000, 4}, {1001, 5}, {16000, 64}, {20000, 64}} {
		n := outbound.ShardsOf(tc.limit)
		if n != tc.shards {
			t.Errorf("limit %d: %d shards, want %d", tc.limit, n, tc.shards)
		}
		sum, lo, hi := 0, tc.limit, 0
		for i := range n {
			s := outbound.ShareOf(tc.limit, n, i)
			sum, lo, hi = sum+s, min(lo, s), max(hi, s)
		}
		if sum != tc.limit || hi-lo > 1 || hi > outbound.ShardCapacity && n < 64 {
			t.Errorf("limit %d over %d shards: shares %d..%d adding up to %d", tc.limit, n, lo, hi, sum)
		}
	}
}

// TestShardedWindowGrantsExactlyTheLimit asks two pacers (two sender
// invocations) with many workers for more sends than a 600 mps limit in one
// window (a frozen clock): the limit is split over three counters in their
// own partitions, and the window grants exactly 600, each counter exactly
// its share.
func TestShardedWindowGrantsExactlyTheLimit(t *testing.T) {
	dbA, dbB, table := newTable(t)
	const (
		number  = "106540352242923"
		limit   = 600
		workers = 8
	)
	ctx := context.Background()
	now := time.Unix(time.Now().Unix(), 0).Add(300 * time.Millisecond)
	var granted atomic.Int64
	var wg sync.WaitGroup
	for _, db := range []*dynamodb.Client{dbA, dbB} {
		p := outbound.NewPacer(dynamostore.New(db, table))
		p.Now = func() time.Time { return now }
		for range workers {
			wg.Go(func() {
				for {
					_, err := p.TakeNumberSlot(ctx, number, limit, 0)
					var pe *outbound.PacedError
					if errors.As(err, &pe) {
						return // the window is full
					}
					if err != nil {
						t.Error(err)
						return
					}
					granted.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if granted.Load() != limit {
		t.Fatalf("granted %d sends in one window, want exactly %d", granted.Load(), limit)
	}
	for i, pk := range []string{"RATE#" + number, "RATE#" + number + "#S1", "RATE#" + number + "#S2"} {
		out, err := dbA.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: strconv.FormatInt(now.Unix(), 10)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := out.Item["count"].(*types.AttributeValueMemberN); n == nil || n.Value != "200" {
			t.Errorf("shard %d (%s): count %v, want 200", i, pk, out.Item["count"])
		}
	}
}
