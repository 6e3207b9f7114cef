package app

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/shared/intakemsg"
)

// MaxMessageBytes is the SQS message size the webhook stays within, body and
// attributes together. 256 KiB is the limit of queues created before SQS
// raised it to 1 MiB and the MaximumMessageSize SQS documents as default for
// many tools; staying under it works whatever the queue says.
const MaxMessageBytes = 256 << 10

// maxFragments bounds a split set. A body that would need more (only a
// pathological one, where the members copied into every fragment leave
// little room) is sent as parts instead, which never takes more than
// MaxBodyBytes / (3/4 · MaxMessageBytes) messages: 17 for 3 MiB.
const maxFragments = 100

// intakeMessage is one SQS message to send.
type intakeMessage struct {
	body  string
	attrs map[string]sqstypes.MessageAttributeValue
}

// splitReserve is the most a split set's attributes take, counted as SQS
// counts them: name, data type and value of each.
var splitReserve = attrsSize(splitAttrs(baseAttrs(string(make([]byte, maxObjectLen)), 1<<62), intakemsg.PayloadFragment, intakemsg.EncodingBase64, hex.EncodeToString(make([]byte, sha256.Size)), 9999, 9999))

// plan turns a verified body into the intake messages that carry it.
func plan(body []byte, bodyText string, object string, receivedAt int64) []intakeMessage {
	base := baseAttrs(object, receivedAt)
	text := sqsText(body)
	enc := intakemsg.EncodingText
	if !text {
		enc = intakemsg.EncodingBase64
	}
	whole := wholeAttrs(base, enc)
	if n := encodedLen(len(body), text); n+attrsSize(whole) <= MaxMessageBytes {
		if !text {
			bodyText = base64.StdEncoding.EncodeToString(body)
		}
		return []intakeMessage{{body: bodyText, attrs: whole}}
	}

	sum := sha256.Sum256(body)
	id := hex.EncodeToString(sum[:])
	room := MaxMessageBytes - splitReserve
	if json.Valid(body) {
		budget := room
		if !text {
			budget = base64.StdEncoding.DecodedLen(room) - 3
		}
		if pieces, ok := splitJSON(body, budget); ok && len(pieces) <= maxFragments {
			return splitSet(pieces, base, intakemsg.PayloadFragment, enc, id)
		}
	}
	partLen := base64.StdEncoding.DecodedLen(room) - 3
	var pieces [][]byte
	for off := 0; off < len(body); off += partLen {
		pieces = append(pieces, body[off:min(off+partLen, len(body))])
	}
	return splitSet(pieces, base, intakemsg.PayloadPart, intakemsg.EncodingBase64, id)
}

func splitSet(pieces [][]byte, base map[string]sqstypes.MessageAttributeValue, payload, enc, id string) []intakeMessage {
	out := make([]intakeMessage, len(pieces))
	for i, p := range pieces {
		body := string(p)
		if enc == intakemsg.EncodingBase64 {
			body = base64.StdEncoding.EncodeToString(p)
		}
		out[i] = intakeMessage{body: body, attrs: splitAttrs(base, payload, enc, id, i, len(pieces))}
	}
	return out
}

func encodedLen(n int, text bool) int {
	if text {
		return n
	}
	return base64.StdEncoding.EncodedLen(n)
}

// maxObjectLen bounds the intakemsg.AttrObject value.
const maxObjectLen = 64

// objectName returns the body's "object" when it is a plain lower-case name
// of at most maxObjectLen bytes, and intakemsg.ObjectUnknown otherwise. Besides it,
// only the owner filter (owners.go) reads the body before the answer.
func objectName(body []byte) string {
	s, ok := topLevelString(body, "object")
	if !ok || s == "" || len(s) > maxObjectLen {
		return intakemsg.ObjectUnknown
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return intakemsg.ObjectUnknown
		}
	}
	return s
}

func baseAttrs(object string, receivedAt int64) map[string]sqstypes.MessageAttributeValue {
	return map[string]sqstypes.MessageAttributeValue{
		intakemsg.AttrObject:     str(object),
		intakemsg.AttrReceivedAt: num(receivedAt),
	}
}

func wholeAttrs(base map[string]sqstypes.MessageAttributeValue, enc string) map[string]sqstypes.MessageAttributeValue {
	out := make(map[string]sqstypes.MessageAttributeValue, len(base)+2)
	for k, v := range base {
		out[k] = v
	}
	out[intakemsg.AttrPayload] = str(intakemsg.PayloadWhole)
	out[intakemsg.AttrEncoding] = str(enc)
	return out
}

func splitAttrs(base map[string]sqstypes.MessageAttributeValue, payload, enc, id string, index, count int) map[string]sqstypes.MessageAttributeValue {
	out := make(map[string]sqstypes.MessageAttributeValue, len(base)+5)
	for k, v := range base {
		out[k] = v
	}
	out[intakemsg.AttrPayload] = str(payload)
	out[intakemsg.AttrEncoding] = str(enc)
	out[intakemsg.AttrSplitID] = str(id)
	out[intakemsg.AttrSplitIndex] = num(int64(index))
	out[intakemsg.AttrSplitCount] = num(int64(count))
	return out
}

func str(s string) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
}

func num(n int64) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.FormatInt(n, 10))}
}

// attrsSize is what attrs add to a message's size as SQS counts it.
func attrsSize(attrs map[string]sqstypes.MessageAttributeValue) int {
	n := 0
	for k, v := range attrs {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// MessageSize is the size SQS counts for a message: the body plus each
// attribute's name, data type and value.
func MessageSize(body string, attrs map[string]sqstypes.MessageAttributeValue) int {
	return len(body) + attrsSize(attrs)
}

// sqsText reports whether b can be an SQS message body as is: valid UTF-8
// holding only the characters SQS allows (#x9, #xA, #xD, #x20 to #xD7FF,
// #xE000 to #xFFFD, #x10000 to #x10FFFF). Valid JSON in UTF-8 always is,
// except for a raw U+FFFE or U+FFFF inside a string.
func sqsText(b []byte) bool {
	const (
		high = 0x8080808080808080
		ctrl = 0x2020202020202020
	)
	for i := 0; i < len(b); {
		// Eight ASCII bytes at a time, none of them below 0x20.
		if i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			if x&high == 0 && (x-ctrl)&^x&high == 0 {
				i += 8
				continue
			}
		}
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if (r == utf8.RuneError && size == 1) || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += size
	}
	return true
}
