package app_test

import (
	"bytes"
	"fmt"
)

// whatsappBatch builds a WhatsApp Cloud API notification of at least size
// bytes shaped like Meta's: entries for a business account, each with
// changes whose value carries metadata, contacts and inbound messages of
// several types, or statuses (sent, delivered, read, failed with errors).
// It returns the body and the ids it holds: every wamid and every
// "<wamid>/<status>" pair.
func whatsappBatch(size int) (body []byte, ids []string) {
	var b bytes.Buffer
	b.WriteString(`{"object":"whatsapp_business_account","entry":[`)
	for e := 0; b.Len() < size; e++ {
		if e > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"10229012934%04d","changes":[`, e%10000)
		for c := 0; c < 8 && b.Len() < size; c++ {
			if c > 0 {
				b.WriteByte(',')
			}
			n := e*8 + c
			ids = append(ids, change(&b, n)...)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	return b.Bytes(), ids
}

// change writes change n: an inbound message (3 in 4) or a set of statuses.
func change(b *bytes.Buffer, n int) []string {
	phone := fmt.Sprintf("9198765%05d", n%100000)
	wamid := fmt.Sprintf("wamid.HBgMOTE5ODc2NTAwMDAxFQIAEhgUM0EwQjYyRDM1NDg1QTQ%08d", n)
	b.WriteString(`{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},`)
	var ids []string
	if n%4 == 3 {
		b.WriteString(`"statuses":[`)
		for i, st := range []string{"sent", "delivered", "read", "failed"} {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(b, `{"id":%q,"status":%q,"timestamp":"%d","recipient_id":%q,`, wamid, st, 1795860900+i, phone)
			if st == "failed" {
				b.WriteString(`"errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]}`)
			} else {
				fmt.Fprintf(b, `"conversation":{"id":"c%08d","expiration_timestamp":"1795947300","origin":{"type":"service"}},"pricing":{"billable":true,"pricing_model":"CBP","category":"service"}}`, n)
			}
			ids = append(ids, wamid+"/"+st)
		}
		b.WriteString(`]},"field":"messages"}`)
		return ids
	}
	fmt.Fprintf(b, `"contacts":[{"profile":{"name":"Lead %d"},"wa_id":%q}],"messages":[{"from":%q,"id":%q,"timestamp":"1795860925",`, n, phone, phone, wamid)
	switch n % 3 {
	case 0:
		b.WriteString(`"type":"text","text":{"body":"नमस्ते! Is the 2BHK in Indiranagar still available? Please share the price and a time to visit 🏠"}}]`)
	case 1:
		b.WriteString(`"type":"image","image":{"caption":"floor plan","mime_type":"image/jpeg","sha256":"4kKnCvEOvkE6TO1gxmWq8tDwdBbqj3fyzTPNUjfyQ3A=","id":"1003383421387256"}}]`)
	default:
		b.WriteString(`"type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"book_visit","title":"Book a visit"}}}]`)
	}
	b.WriteString(`},"field":"messages"}`)
	return []string{wamid}
}
