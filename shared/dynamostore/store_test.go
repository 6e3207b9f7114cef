package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/suppression"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

// calls counts DynamoDB operations by name.
type calls struct{ n map[string]*atomic.Int64 }

func (c *calls) get(op string) int64 {
	if v, ok := c.n[op]; ok {
		return v.Load()
	}
	return 0
}

func newStore(t testing.TB) (*dynamostore.Store, *calls) {
	t.Helper()
	return newStoreWith(t, nil)
}

// newStoreWith is newStore whose calls first go through intercept: an
// error it returns is the call's answer, without asking the table.
func newStoreWith(t testing.TB, intercept func(op string) error) (*dynamostore.Store, *calls) {
	t.Helper()
	ctx := context.Background()
	c := &calls{n: map[string]*atomic.Int64{}}
	for _, op := range []string{"GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem", "DeleteItem", "Scan", "BatchGetItem", "BatchWriteItem"} {
		c.n[op] = &atomic.Int64{}
	}
	count := middleware.InitializeMiddlewareFunc("count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if v, ok := c.n[awsmiddleware.GetOperationName(ctx)]; ok {
			v.Add(1)
		}
		if intercept != nil {
			if err := intercept(awsmiddleware.GetOperationName(ctx)); err != nil {
				return middleware.InitializeOutput{}, middleware.Metadata{}, err
			}
		}
		return next.HandleInitialize(ctx, in)
	})
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithAPIOptions([]func(*middleware.Stack) error{
		func(s *middleware.Stack) error { return s.Initialize.Add(count, middleware.After) },
	}))
	if err != nil {
		t.Fatal(err)
	}
	return dynamostore.New(dynamodb.NewFromConfig(cfg), devstacktest.Fresh(t).TableName), c
}

func newLead(org, name, phone, email string) lead.Lead {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return lead.Lead{ID: ulid.Make().String(), OrgID: org, Name: name, Phone: phone, Email: email, Source: "manual",
		Status: lead.StatusNew, Tags: []string{}, CustomFields: map[string]string{}, CreatedAt: now, UpdatedAt: now, Version: 1,
		PipelineID: lead.DefaultPipelineID, StageID: string(lead.StatusNew)}
}

func TestLeadUniquenessIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a := newLead("org1", "A", "+919876543210", "a@example.com")
	if err := s.CreateLead(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetLead(ctx, "org1", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}

	// Same email, new phone: refused, and the new phone is not left claimed.
	b := newLead("org1", "B", "+14155552671", "a@example.com")
	var dup *lead.DuplicateError
	if err := s.CreateLead(ctx, b); !errors.As(err, &dup) || dup.Field != "email" || dup.ExistingID != a.ID {
		t.Fatalf("CreateLead duplicate email = %v", err)
	}
	if _, err := s.GetLead(ctx, "org1", b.ID); !errors.Is(err, lead.ErrNotFound) {
		t.Fatalf("refused lead was written: %v", err)
	}
	c := newLead("org1", "C", "+14155552671", "")
	if err := s.CreateLead(ctx, c); err != nil {
		t.Fatalf("phone of a refused create stayed claimed: %v", err)
	}
	// Another org may hold the same phone.
	if err := s.CreateLead(ctx, newLead("org2", "A2", "+919876543210", "")); err != nil {
		t.Fatal(err)
	}

	// Moving a phone: old released, new claimed, stale version refused.
	next := a
	next.Phone, next.Version = "+919999999999", 2
	if err := s.UpdateLead(ctx, a, next); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateLead(ctx, a, next); !errors.Is(err, lead.ErrVersionMismatch) {
		t.Fatalf("stale update = %v, want ErrVersionMismatch", err)
	}
	if err := s.CreateLead(ctx, newLead("org1", "D", "+919876543210", "")); err != nil {
		t.Fatalf("released phone not reusable: %v", err)
	}
	taken := next
	taken.Phone, taken.Version = "+14155552671", 3
	if err := s.UpdateLead(ctx, next, taken); !errors.As(err, &dup) || dup.ExistingID != c.ID {
		t.Fatalf("update onto a taken phone = %v", err)
	}
	h, err := suppression.NewHasher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseSuppression(h).DeleteLead(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLead(ctx, newLead("org1", "E", "+919999999999", "a@example.com")); err != nil {
		t.Fatalf("deleted lead's phone/email not released: %v", err)
	}
}

func TestListLeadsIsOneQuery(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	for i := range 12 {
		l := newLead("org1", fmt.Sprint("L", i), "", fmt.Sprintf("l%d@example.com", i))
		if err := s.CreateLead(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	before := c.get("Query")
	res, err := s.ListLeads(ctx, "org1", lead.Filter{}, 5, page.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.get("Query") - before; got != 1 {
		t.Fatalf("unfiltered list used %d Query calls, want 1", got)
	}
	if len(res.Items) != 5 || res.Next.IsZero() {
		t.Fatalf("page of %d, next %v", len(res.Items), res.Next)
	}
	seen := map[string]bool{}
	for n := 0; !res.Next.IsZero(); n++ {
		for _, l := range res.Items {
			seen[l.ID] = true
		}
		if res, err = s.ListLeads(ctx, "org1", lead.Filter{}, 5, res.Next); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range res.Items {
		seen[l.ID] = true
	}
	if len(seen) != 12 {
		t.Fatalf("paged through %d distinct leads, want 12", len(seen))
	}
	if c.get("Scan") != 0 {
		t.Fatal("a request path used Scan")
	}
}

func TestRefreshRotation(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	exp := time.Now().Add(time.Hour)
	first := account.RefreshToken{ID: ulid.Make().String(), FamilyID: "fam", UserID: "u1", OrgID: "o1", SecretHash: []byte("h1"), ExpiresAt: exp}
	if err := s.StartSession(ctx, first, exp); err != nil {
		t.Fatal(err)
	}
	second := first
	second.ID, second.SecretHash = ulid.Make().String(), []byte("h2")
	if err := s.RotateRefreshToken(ctx, first, second); err != nil {
		t.Fatal(err)
	}
	third := second
	third.ID = ulid.Make().String()
	if err := s.RotateRefreshToken(ctx, first, third); !errors.Is(err, account.ErrTokenReused) {
		t.Fatalf("rotating a used token = %v, want ErrTokenReused", err)
	}
	if _, used, err := s.GetRefreshToken(ctx, first.ID); err != nil || !used {
		t.Fatalf("first token used=%v err=%v", used, err)
	}
	if err := s.RevokeAllSessions(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateRefreshToken(ctx, second, third); !errors.Is(err, account.ErrTokenInvalid) {
		t.Fatalf("rotating in a revoked family = %v, want ErrTokenInvalid", err)
	}
	if ok, _ := s.SessionActive(ctx, "u1", "fam"); ok {
		t.Fatal("revoked session still active")
	}
}

func TestExpiredItemsAreNotRead(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	past := time.Now().Add(-time.Minute)
	tok := account.RefreshToken{ID: ulid.Make().String(), FamilyID: "f", UserID: "u", OrgID: "o", SecretHash: []byte("h"), ExpiresAt: past}
	if err := s.StartSession(ctx, tok, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// DynamoDB Local never deletes expired items; the store must not return them.
	if _, _, err := s.GetRefreshToken(ctx, tok.ID); !errors.Is(err, account.ErrTokenInvalid) {
		t.Fatalf("expired token read back: %v", err)
	}
}

func TestLoginAttemptWindow(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for range 3 {
		if ok, _, err := s.TakeLoginAttempt(ctx, "h", 3, time.Minute); err != nil || !ok {
			t.Fatalf("attempt under the limit refused: %v, %v", ok, err)
		}
	}
	if n, since, err := s.LoginFailures(ctx, "h"); err != nil || n != 3 || time.Since(since) > time.Minute {
		t.Fatalf("failures = %d since %v, %v", n, since, err)
	}
	ok, since, err := s.TakeLoginAttempt(ctx, "h", 3, time.Minute)
	if err != nil || ok || time.Since(since) > time.Minute {
		t.Fatalf("attempt over the limit = %v since %v, %v", ok, since, err)
	}
	if n, _, _ := s.LoginFailures(ctx, "h"); n != 3 {
		t.Fatalf("a refused attempt was counted: %d", n)
	}
	if err := s.ClearLoginFailures(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.LoginFailures(ctx, "h"); n != 0 {
		t.Fatalf("cleared failures = %d", n)
	}
}

// Parallel attempts are each counted once, the first of a window included,
// and never more than the limit.
func TestLoginAttemptsParallel(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	const n, limit = 12, 8
	var wg sync.WaitGroup
	var allowed atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := s.TakeLoginAttempt(ctx, "parallel", limit, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if got, _, _ := s.LoginFailures(ctx, "parallel"); got != limit || allowed.Load() != limit {
		t.Fatalf("%d parallel attempts: %d counted, %d allowed; want %d", n, got, allowed.Load(), limit)
	}
}

// A session family's expiry holds at rotation: a token that outlives its
// family does not rotate.
func TestRotateAfterFamilyExpiry(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now()
	tok := account.RefreshToken{ID: ulid.Make().String(), FamilyID: ulid.Make().String(), UserID: "u-" + ulid.Make().String(), OrgID: "o",
		SecretHash: []byte("h"), ExpiresAt: now.Add(time.Hour)}
	if err := s.StartSession(ctx, tok, now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	next := tok
	next.ID, next.ExpiresAt = ulid.Make().String(), now.Add(2*time.Hour)
	if err := s.RotateRefreshToken(ctx, tok, next); !errors.Is(err, account.ErrTokenInvalid) {
		t.Fatalf("rotation in an expired family = %v, want ErrTokenInvalid", err)
	}
}

// The same token rotated twice at the same moment: one rotation wins, every
// other one is ErrTokenReused (never a plain ErrTokenInvalid a transaction
// conflict could cause), so the caller revokes the family.
func TestRotateParallel(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for round := range 10 {
		now := time.Now()
		tok := account.RefreshToken{ID: ulid.Make().String(), FamilyID: ulid.Make().String(), UserID: "u-" + ulid.Make().String(), OrgID: "o",
			SecretHash: []byte("h"), ExpiresAt: now.Add(time.Hour)}
		if err := s.StartSession(ctx, tok, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := tok
				next.ID = ulid.Make().String()
				errs[i] = s.RotateRefreshToken(ctx, tok, next)
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, account.ErrTokenReused):
			default:
				t.Fatalf("round %d: parallel rotation = %v, want ErrTokenReused", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d rotations won", round, won)
		}
	}
}

// A rotation that collides with another write of the same token (a
// transaction conflict: in practice the same token rotated at the same
// moment) is reuse, never a plain ErrTokenInvalid, so the family is
// revoked; and the revocation itself outlasts a conflict.
func TestRotateConflictIsReuse(t *testing.T) {
	ctx := context.Background()
	var conflicts atomic.Int32
	s, _ := newStoreWith(t, func(op string) error {
		if conflicts.Load() > 0 && (op == "TransactWriteItems" || op == "UpdateItem") {
			conflicts.Add(-1)
			if op == "UpdateItem" {
				return &types.TransactionConflictException{Message: aws.String("Transaction is ongoing for the item")}
			}
			code, none := "TransactionConflict", "None"
			return &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"),
				CancellationReasons: []types.CancellationReason{{Code: &code}, {Code: &none}, {Code: &none}}}
		}
		return nil
	})
	now := time.Now()
	tok := account.RefreshToken{ID: ulid.Make().String(), FamilyID: ulid.Make().String(), UserID: "u-" + ulid.Make().String(), OrgID: "o",
		SecretHash: []byte("h"), ExpiresAt: now.Add(time.Hour)}
	if err := s.StartSession(ctx, tok, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	next := tok
	next.ID = ulid.Make().String()
	conflicts.Store(1)
	if err := s.RotateRefreshToken(ctx, tok, next); !errors.Is(err, account.ErrTokenReused) {
		t.Fatalf("rotation in a transaction conflict = %v, want ErrTokenReused", err)
	}
	conflicts.Store(2)
	if err := s.RevokeSession(ctx, tok.UserID, tok.FamilyID); err != nil {
		t.Fatalf("revoke through a transaction conflict: %v", err)
	}
	if active, err := s.SessionActive(ctx, tok.UserID, tok.FamilyID); err != nil || active {
		t.Fatalf("session after revoke: active %v, %v", active, err)
	}
}

// The last active owner cannot be demoted or deactivated; with a second
// owner one of them can, and the other then is the last.
func TestLastOwnerStays(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	org := ulid.Make().String()
	a := account.User{ID: ulid.Make().String(), OrgID: org, Name: "A", Email: "a-" + org + "@example.com", Role: account.RoleOwner,
		Active: true, PasswordHash: "hash", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOrg(ctx, account.Org{ID: org, Name: "Owners", DefaultRegion: "IN", CreatedAt: now}, a); err != nil {
		t.Fatal(err)
	}
	demoted, inactive := a, a
	demoted.Role, inactive.Active = account.RoleAdmin, false
	for _, u := range []account.User{demoted, inactive} {
		if err := s.UpdateUser(ctx, u); !errors.Is(err, account.ErrLastOwner) {
			t.Fatalf("last owner updated to %s/%v: %v", u.Role, u.Active, err)
		}
	}
	renamed := a
	renamed.Name = "A renamed"
	if err := s.UpdateUser(ctx, renamed); err != nil {
		t.Fatalf("rename of the last owner: %v", err)
	}
	b := a
	b.ID, b.Email = ulid.Make().String(), "b-"+org+"@example.com"
	if err := s.CreateUser(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateUser(ctx, demoted); err != nil {
		t.Fatalf("demote with another owner: %v", err)
	}
	b.Active = false
	if err := s.UpdateUser(ctx, b); !errors.Is(err, account.ErrLastOwner) {
		t.Fatalf("deactivating the remaining owner: %v", err)
	}
	gone := b
	gone.ID = ulid.Make().String()
	if err := s.UpdateUser(ctx, gone); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("update of a missing user: %v", err)
	}
}
