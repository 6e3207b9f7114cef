// Command demo (`make demo`) shows a newcomer the intake path end to end
// against a running `make dev`: it asks the runner's Meta simulator to
// submit a Lead Ads lead and send an inbound WhatsApp message through the
// signed webhook, watches the API until both leads appear, then replies to
// the WhatsApp lead and follows the reply's ticks, which the simulator
// reports by itself through status webhooks, up to read. On the way it
// shows each lead's consent: the Lead Ads lead answered the form's consent
// question, which the demo org maps to a WhatsApp service opt-in; the
// WhatsApp lead's own message recorded one.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	api := flag.String("api", "http://127.0.0.1:8080", "the local HTTP API")
	ctl := flag.String("control", "http://127.0.0.1:8093", "the runner's demo control address")
	email := flag.String("email", "owner@demo.leadluence.local", "demo owner email")
	password := flag.String("password", "demo-password-123", "demo owner password")
	flag.Parse()
	if err := run(*api, *ctl, *email, *password); err != nil {
		fmt.Fprintln(os.Stderr, "make demo:", err)
		os.Exit(1)
	}
}

func run(api, ctl, email, password string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(ctl+"/demo", "application/json", nil)
	if err != nil {
		return fmt.Errorf("is make dev running? %w", err)
	}
	var sent struct {
		LeadgenID     string `json:"leadgen_id"`
		LeadPhone     string `json:"lead_phone"`
		WhatsAppFrom  string `json:"whatsapp_from"`
		WAMID         string `json:"wamid"`
		LeadgenStatus int    `json:"leadgen_status"`
		MessageStatus int    `json:"message_status"`
	}
	err = json.NewDecoder(resp.Body).Decode(&sent)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("demo control answered %d", resp.StatusCode)
	}
	if err != nil {
		return fmt.Errorf("demo control answer: %w", err)
	}
	fmt.Printf("Meta simulator -> POST /webhooks/meta (signed):\n  Lead Ads lead %s  -> %d\n  WhatsApp message %s from +%s -> %d\n\n",
		sent.LeadgenID, sent.LeadgenStatus, sent.WAMID, sent.WhatsAppFrom, sent.MessageStatus)

	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err = client.Post(api+"/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if login.AccessToken == "" {
		return fmt.Errorf("login as %s answered %d", email, resp.StatusCode)
	}

	want := map[string]string{sent.LeadPhone: "Lead Ads", "+" + sent.WhatsAppFrom: "WhatsApp"}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, api+"/v1/leads?limit=20", nil)
		req.Header.Set("Authorization", "Bearer "+login.AccessToken)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("list leads: %w", err)
		}
		var page struct {
			Items []struct {
				ID, Name, Source string
				Phone            *string
			} `json:"items"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		var found []string
		for _, l := range page.Items {
			if l.Phone != nil && want[*l.Phone] != "" {
				found = append(found, fmt.Sprintf("  %-9s %s  %-22s %-18s %s", want[*l.Phone], l.ID, l.Name, l.Source, *l.Phone))
			}
		}
		if len(found) == len(want) {
			fmt.Println("Leads now in the API (GET /v1/leads):")
			fmt.Println(strings.Join(found, "\n"))
			fmt.Println("\nTheir consent (GET /v1/leads/{id}/preferences):")
			for _, l := range page.Items {
				if l.Phone != nil && want[*l.Phone] != "" {
					if err := showConsent(client, api, login.AccessToken, want[*l.Phone], l.ID); err != nil {
						return err
					}
				}
			}
			for _, l := range page.Items {
				if l.Phone != nil && *l.Phone == "+"+sent.WhatsAppFrom {
					return reply(client, api, login.AccessToken, l.ID, sent.WhatsAppFrom)
				}
			}
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("the leads did not appear within 30 s; see .dev/functions.log")
}

// showConsent prints a lead's ledger entries: how each opt-in was recorded.
// A WhatsApp lead exists a moment before its message (and the opt-in it
// carries) is stored, so an empty ledger is read again for a few seconds.
func showConsent(client *http.Client, api, token, what, leadID string) error {
	var p struct {
		History []struct {
			Channel, Purpose, Action, Source string
			Evidence                         *string
		} `json:"history"`
	}
	for try := 0; try < 10 && len(p.History) == 0; try++ {
		if try > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		req, _ := http.NewRequest(http.MethodGet, api+"/v1/leads/"+leadID+"/preferences", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("read preferences: %w", err)
		}
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("read preferences of %s: answered %d", leadID, resp.StatusCode)
		}
		if err != nil {
			return fmt.Errorf("read preferences of %s: %w", leadID, err)
		}
	}
	if len(p.History) == 0 {
		fmt.Printf("  %-9s no consent recorded\n", what)
	}
	for _, e := range p.History {
		ev := ""
		if e.Evidence != nil {
			ev = *e.Evidence
		}
		fmt.Printf("  %-9s %s %s:%s  source %s  evidence %s\n", what, e.Action, e.Channel, e.Purpose, e.Source, ev)
	}
	return nil
}

// reply answers the WhatsApp lead inside its 24-hour window through the
// API and shows the ticks move as the simulator's status webhooks arrive.
func reply(client *http.Client, api, token, leadID, waID string) error {
	body, _ := json.Marshal(map[string]any{"channel": "whatsapp", "type": "text", "client_message_id": "demo-reply-" + waID,
		"text": "Yes, it is! Would you like to visit on Saturday?"})
	call := func(method, url string, body []byte) (map[string]any, int, error) {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, 0, fmt.Errorf("%s %s: %w", method, url, err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out, resp.StatusCode, nil
	}
	out, status, err := call(http.MethodPost, api+"/v1/leads/"+leadID+"/messages", body)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted && status != http.StatusOK {
		return fmt.Errorf("send reply: %d %v", status, out)
	}
	msgID, _ := out["id"].(string)
	fmt.Printf("\nReply POST /v1/leads/%s/messages -> %d, message %s queued\n", leadID, status, msgID)

	// message finds the reply in the lead's conversation.
	message := func() (status string, history []any) {
		page, _, err := call(http.MethodGet, api+"/v1/leads/"+leadID+"/messages?limit=50", nil)
		if err != nil {
			return "", nil
		}
		items, _ := page["items"].([]any)
		for _, it := range items {
			if m, _ := it.(map[string]any); m["id"] == msgID {
				status, _ = m["status"].(string)
				history, _ = m["status_history"].([]any)
				return status, history
			}
		}
		return "", nil
	}
	last := ""
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s, history := message()
		if s != last && s != "" {
			fmt.Printf("  status: %s\n", s)
			last = s
		}
		switch last {
		case "read":
			fmt.Println("Status webhooks received (status_history):")
			for _, h := range history {
				if e, _ := h.(map[string]any); e != nil {
					fmt.Printf("  %-9v %v\n", e["status"], e["at"])
				}
			}
			return inbox(call, api)
		case "failed", "unknown":
			return fmt.Errorf("the reply ended %s; see .dev/functions.log", last)
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("the reply's ticks did not reach read within 30 s (last %q)", last)
}

// inbox prints the top of the team inbox: the conversation just answered
// comes first, with its last message, unread count and WhatsApp window.
func inbox(call func(method, url string, body []byte) (map[string]any, int, error), api string) error {
	page, status, err := call(http.MethodGet, api+"/v1/conversations?limit=3", nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("inbox: %d %v", status, page)
	}
	fmt.Println("\nInbox (GET /v1/conversations, latest conversation first):")
	items, _ := page["items"].([]any)
	for _, it := range items {
		c, _ := it.(map[string]any)
		l, _ := c["lead"].(map[string]any)
		w, _ := c["window"].(map[string]any)
		line := fmt.Sprintf("  %-22v unread %v", l["name"], c["unread_count"])
		if m, _ := c["last_message"].(map[string]any); m != nil {
			line += fmt.Sprintf("  last: %v %v %q", m["direction"], m["status"], m["preview"])
		}
		if w["open"] == true {
			line += fmt.Sprintf("  window open until %v", w["until"])
		}
		fmt.Println(line)
	}
	return nil
}
