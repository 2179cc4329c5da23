// Command observability-oracle judges what image-rewriter emits with the readers others use, for
// tests/integration/observability-oracle.integration.ts:
//
//	observability-oracle metrics URL [ACCEPT]
//	    scrapes URL (with ACCEPT as the Accept header) and judges the answer with Prometheus' own Go
//	    code: the format as github.com/prometheus/common/expfmt negotiates it (ResponseFormat), every
//	    family decoded by expfmt's text parser (legacy metric names), and the families linted by
//	    client_golang's promlint (units as suffixes, `_total` for counters only, base units, help
//	    text, reserved suffixes and labels). Prints one JSON object: {"status", "contentType",
//	    "format", "families", "parseError", "problems": [{"metric", "text"}]}.
//	observability-oracle logs < LINES
//	    reads log lines (one JSON object each) and decodes each with Go's encoding/json/v2 (built
//	    with GOEXPERIMENT=jsonv2), which refuses duplicate member names, invalid UTF-8 and lone
//	    surrogates (`\ud800`) as a strict log shipper does; numbers must be finite float64 values
//	    and integers within 2^53. Prints one JSON object: {"lines", "problems": [{"line", "text"}],
//	    "types": {MESSAGE: {FIELD: [TYPE...]}}} (FIELD a dotted path, `[]` for a list's items).
//
// Exit 0 whenever it could read its input (the verdict is in the JSON).
package main

import (
	"bufio"
	"bytes"
	"encoding/json/jsontext"
	"encoding/json/v2"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type problem struct {
	Metric string `json:"metric"`
	Text   string `json:"text"`
}

type metricsVerdict struct {
	Status      int       `json:"status"`
	ContentType string    `json:"contentType"`
	Format      string    `json:"format"`
	Families    int       `json:"families"`
	ParseError  string    `json:"parseError,omitempty"`
	Problems    []problem `json:"problems"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func metrics(url, accept string) metricsVerdict {
	v := metricsVerdict{Problems: []problem{}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		fail(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		fail(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		fail(err)
	}
	v.Status = resp.StatusCode
	v.ContentType = resp.Header.Get("Content-Type")
	format := expfmt.ResponseFormat(resp.Header)
	v.Format = string(format)
	if !utf8.Valid(body) {
		v.ParseError = "the exposition is not valid UTF-8"
		return v
	}
	if format.FormatType() != expfmt.TypeTextPlain {
		v.ParseError = "not the text format: " + string(format)
		return v
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	byName, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		v.ParseError = err.Error()
		return v
	}
	families := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		families = append(families, mf)
	}
	sort.Slice(families, func(i, j int) bool { return families[i].GetName() < families[j].GetName() })
	v.Families = len(families)
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		v.ParseError = err.Error()
	}
	for _, p := range problems {
		v.Problems = append(v.Problems, problem{Metric: p.Metric, Text: p.Text})
	}
	return v
}

type lineProblem struct {
	Line int    `json:"line"`
	Text string `json:"text"`
}

type logsVerdict struct {
	Lines    int                            `json:"lines"`
	Problems []lineProblem                  `json:"problems"`
	Types    map[string]map[string][]string `json:"types"`
}

// typesOf records the JSON type of v at path, and of everything under it.
func typesOf(types map[string]map[string]bool, path string, v any) {
	var t string
	switch x := v.(type) {
	case map[string]any:
		t = "object"
		for k, y := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			typesOf(types, p, y)
		}
	case []any:
		t = "array"
		for _, y := range x {
			typesOf(types, path+"[]", y)
		}
	case string:
		t = "string"
	case bool:
		t = "bool"
	case nil:
		t = "null"
	case float64:
		t = "number"
	default:
		t = fmt.Sprintf("%T", v)
	}
	if types[path] == nil {
		types[path] = map[string]bool{}
	}
	types[path][t] = true
}

// numbersProblem returns why a number of the line is not one every reader takes the same (not a
// finite float64, or an integer beyond 2^53), or "".
func numbersProblem(line []byte) string {
	dec := jsontext.NewDecoder(bytes.NewReader(line))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return ""
		}
		if tok.Kind() != '0' {
			continue
		}
		text := tok.String()
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "number out of float64's range: " + text
		}
		if i, err := strconv.ParseInt(text, 10, 64); err == nil && (i > 1<<53 || i < -(1<<53)) {
			return "integer beyond float64's exact range: " + text
		}
	}
}

func logs(in io.Reader) logsVerdict {
	v := logsVerdict{Problems: []lineProblem{}, Types: map[string]map[string][]string{}}
	types := map[string]map[string]map[string]bool{}
	r := bufio.NewReaderSize(in, 1<<20)
	n := 0
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte("\n"))
			n++
			var obj map[string]jsontext.Value
			if uerr := json.Unmarshal(line, &obj); uerr != nil {
				v.Problems = append(v.Problems, lineProblem{Line: n, Text: uerr.Error()})
			} else if p := numbersProblem(line); p != "" {
				v.Problems = append(v.Problems, lineProblem{Line: n, Text: p})
			} else {
				var fields map[string]any
				_ = json.Unmarshal(line, &fields)
				msg := "(no message)"
				if m, ok := fields["message"].(string); ok {
					msg = m
				} else if m, ok := fields["msg"].(string); ok {
					msg = m
				} else if _, ok := fields["_aws"]; ok {
					msg = "(EMF)"
				}
				if types[msg] == nil {
					types[msg] = map[string]map[string]bool{}
				}
				for k, x := range fields {
					typesOf(types[msg], k, x)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(err)
		}
	}
	v.Lines = n
	for msg, fields := range types {
		v.Types[msg] = map[string][]string{}
		for path, ts := range fields {
			list := make([]string, 0, len(ts))
			for t := range ts {
				list = append(list, t)
			}
			sort.Strings(list)
			v.Types[msg][path] = list
		}
	}
	return v
}

func main() {
	var out any
	switch {
	case len(os.Args) >= 3 && os.Args[1] == "metrics":
		accept := ""
		if len(os.Args) > 3 {
			accept = os.Args[3]
		}
		out = metrics(os.Args[2], accept)
	case len(os.Args) == 2 && os.Args[1] == "logs":
		out = logs(os.Stdin)
	default:
		fmt.Fprintln(os.Stderr, "usage: observability-oracle metrics URL [ACCEPT] | observability-oracle logs < LINES")
		os.Exit(64)
	}
	text, err := json.Marshal(out, json.Deterministic(true))
	if err != nil {
		fail(err)
	}
	fmt.Println(string(text))
}
