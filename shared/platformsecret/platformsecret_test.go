package platformsecret_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/platformsecret"
)

// memStore is an in-memory secret store; taken makes the next put lose a
// race to secret, as another cold start would.
type memStore struct {
	items map[string][]byte
	taken []byte
}

func (m *memStore) GetSecret(_ context.Context, name string) ([]byte, error) {
	if v, ok := m.items[name]; ok {
		return v, nil
	}
	return nil, account.ErrNotFound
}

func (m *memStore) PutSecret(_ context.Context, name string, sealed []byte) error {
	if m.taken != nil {
		m.items[name], m.taken = m.taken, nil
		return errors.New("condition failed")
	}
	m.items[name] = sealed
	return nil
}

// xorSealer stands in for the envelope: sealing flips every byte.
type xorSealer struct{}

func flip(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ 0xff
	}
	return out
}

func (xorSealer) Seal(_ context.Context, _ string, p []byte) ([]byte, error) { return flip(p), nil }
func (xorSealer) Open(_ context.Context, _ string, s []byte) ([]byte, error) { return flip(s), nil }

func TestLoadCreatesOnceAndOpenReads(t *testing.T) {
	ctx := context.Background()
	st := &memStore{items: map[string][]byte{}}
	if _, found, err := platformsecret.Open(ctx, st, xorSealer{}, "k"); err != nil || found {
		t.Fatalf("Open before Load: found %v, %v", found, err)
	}
	first, err := platformsecret.Load(ctx, st, xorSealer{}, "k")
	if err != nil || len(first) != 32 {
		t.Fatalf("Load = %d bytes, %v", len(first), err)
	}
	if bytes.Equal(st.items["k"], first) {
		t.Fatal("the secret is stored in clear")
	}
	again, err := platformsecret.Load(ctx, st, xorSealer{}, "k")
	if err != nil || !bytes.Equal(again, first) {
		t.Fatalf("second Load = %x, %v; want the first secret", again, err)
	}
	opened, found, err := platformsecret.Open(ctx, st, xorSealer{}, "k")
	if err != nil || !found || !bytes.Equal(opened, first) {
		t.Fatalf("Open = %x, %v, %v", opened, found, err)
	}
}

func TestLoadKeepsTheWinnerOfARace(t *testing.T) {
	winner := bytes.Repeat([]byte{7}, 32)
	st := &memStore{items: map[string][]byte{}, taken: flip(winner)}
	got, err := platformsecret.Load(context.Background(), st, xorSealer{}, "k")
	if err != nil || !bytes.Equal(got, winner) {
		t.Fatalf("Load after a lost race = %x, %v; want the winner's secret", got, err)
	}
}
