// Command demo (`make demo`) shows a newcomer the intake path end to end
// against a running `make dev`: it asks the runner's Meta simulator to
// submit a Lead Ads lead and send an inbound WhatsApp message through the
// signed webhook, then watches the API until both leads appear.
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
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("the leads did not appear within 30 s; see .dev/functions.log")
}
