package conversation_test

import (
	"testing"

	"github.com/leadluence/backend/shared/conversation"
)

func TestKeyword(t *testing.T) {
	for text, want := range map[string]string{
		"STOP": conversation.OptOut, " stop. ": conversation.OptOut, "Stop All": conversation.OptOut, "UNSUBSCRIBE": conversation.OptOut,
		"band karo": conversation.OptOut, "Band  Karo!": conversation.OptOut, "बंद करो": conversation.OptOut, "मत भेजो।": conversation.OptOut,
		"START": conversation.OptIn, "shuru karo": conversation.OptIn,
		"please stop calling me after 6": "", "stopwatch": "", "": "", "I want to start a business": "",
	} {
		got, ok := conversation.Keyword(text)
		if got != want || ok != (want != "") {
			t.Errorf("Keyword(%q) = %q, %v; want %q", text, got, ok, want)
		}
	}
}

func TestRankIsMonotonic(t *testing.T) {
	order := []conversation.Status{conversation.StatusQueued, conversation.StatusAccepted, conversation.StatusSent,
		conversation.StatusDelivered, conversation.StatusRead, conversation.StatusFailed}
	for i := 1; i < len(order); i++ {
		if order[i].Rank() <= order[i-1].Rank() {
			t.Errorf("%s does not outrank %s", order[i], order[i-1])
		}
	}
}
