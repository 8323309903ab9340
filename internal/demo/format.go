package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/choreohq/choreo/dispatch/a2a"
)

// ANSI styles, used only when Config.Color is set.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiDim     = "\x1b[2m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiBlue    = "\x1b[34m"
	ansiMagenta = "\x1b[35m"
	ansiCyan    = "\x1b[36m"
)

// orderColors tell orders apart in the flow.
var orderColors = []string{ansiCyan, ansiYellow, ansiMagenta, ansiBlue, ansiGreen, "\x1b[91m", "\x1b[96m", "\x1b[93m"}

// Column widths of a flow line.
const (
	colTime   = 9
	colCorr   = 11
	colWhat   = 33
	colDetail = 52
)

// printer writes lines to the demo's output, one writer at a time.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
}

// style wraps s in an ANSI style when colour is on.
func (p *printer) style(code, s string) string {
	if !p.color || code == "" || s == "" {
		return s
	}
	return code + s + ansiReset
}

// printf writes a formatted line.
func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// flowLine is one line of the live flow.
type flowLine struct {
	offset    time.Duration // since the demo started
	corr      string        // the correlation, "" for none
	corrStyle string
	what      string // the event type or the action, with a mark
	whatStyle string
	detail    string
	who       string // the agent, or the source
}

// flow writes l in columns.
func (p *printer) flow(l flowLine) {
	corr := l.corr
	if corr == "" {
		corr = "·"
	}
	var b strings.Builder
	b.WriteString("  ")
	b.WriteString(p.style(ansiDim, pad(fmt.Sprintf("+%.3fs", l.offset.Seconds()), colTime)))
	b.WriteString(p.style(l.corrStyle, pad(corr, colCorr)))
	b.WriteByte(' ')
	b.WriteString(p.style(l.whatStyle, pad(l.what, colWhat)))
	b.WriteByte(' ')
	if l.who == "" {
		b.WriteString(strings.TrimRight(truncate(l.detail, colDetail), " "))
	} else {
		b.WriteString(pad(truncate(l.detail, colDetail), colDetail))
		b.WriteByte(' ')
		b.WriteString(p.style(ansiDim, l.who))
	}
	b.WriteByte('\n')
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, b.String())
}

// pad pads s with spaces to n runes, or leaves it when longer.
func pad(s string, n int) string {
	if c := utf8.RuneCountInString(s); c < n {
		return s + strings.Repeat(" ", n-c)
	}
	return s
}

// truncate shortens s to at most n runes, ending in an ellipsis when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// describe says in a few words what an event of type typ with data means.
func describe(typ string, raw json.RawMessage) string {
	var d map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &d) != nil {
		return compact(raw)
	}
	num := func(k string) float64 { f, _ := d[k].(float64); return f }
	str := func(k string) string { s, _ := d[k].(string); return s }
	switch typ {
	case "order_received":
		s := fmt.Sprintf("%s · %s · %s", money(num("order_value")), plural(int(num("items")), "item"), str("customer_id"))
		if num("order_value") > 1000 {
			s += " · high value"
		}
		return s
	case "inventory_confirmed":
		if b, _ := d["restocked"].(bool); b {
			return fmt.Sprintf("restocked %s by %s", plural(int(num("restocked_quantity")), "unit"), str("supplier"))
		}
		return fmt.Sprintf("%s in stock at %s", plural(int(num("items")), "item"), str("warehouse"))
	case "inventory_shortage":
		return fmt.Sprintf("short of %d × %s", int(num("shortage_quantity")), str("sku"))
	case "payment_successful":
		return fmt.Sprintf("%s charged (%s)", money(num("amount")), str("transaction_id"))
	case "payment_failed":
		return fmt.Sprintf("%s, attempt %d", str("reason"), int(num("retry_count"))+1)
	case "fulfillment_complete":
		return fmt.Sprintf("%s packed at %s", plural(int(num("packages")), "package"), str("warehouse"))
	case "shipping_expedited":
		return "upgraded to " + str("service") + " shipping"
	case "shipping_complete":
		return fmt.Sprintf("handed to %s, tracking %s", str("carrier"), str("tracking_number"))
	case "customer_notified":
		return fmt.Sprintf("tracking %s sent by %s", str("tracking_number"), str("channel"))
	case "delivery_confirmed":
		return "delivered, signed by " + str("signed_by")
	case "order_closed":
		return "order closed"
	case "order_cancelled":
		return "cancelled: " + str("reason")
	}
	switch {
	case strings.HasSuffix(typ, a2a.CompletedSuffix):
		var c a2a.Completed
		_ = json.Unmarshal(raw, &c) // d decoded, so raw is an object
		if len(c.Text) > 0 {
			return "A2A · " + strings.Join(c.Text, "; ")
		}
		if len(c.Artifacts) > 0 {
			return "A2A · " + keyValues(c.Artifacts[0])
		}
		return "A2A task completed"
	case strings.HasSuffix(typ, a2a.FailedSuffix):
		var f a2a.Failed
		_ = json.Unmarshal(raw, &f)
		if f.Message != "" {
			return "A2A · task " + f.State + ": " + f.Message
		}
		return "A2A · task " + f.State
	}
	return compact(raw)
}

func money(v float64) string {
	cents := int64(v*100 + 0.5)
	whole := strconv.FormatInt(cents/100, 10)
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return fmt.Sprintf("$%s.%02d", b.String(), cents%100)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// keyValues writes m as "k=v, …" in key order.
func keyValues(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// compact is the fallback description: the data as one line of JSON.
func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// millis formats a duration in milliseconds with one decimal.
func millis(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}
