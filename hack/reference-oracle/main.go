// Command reference-oracle answers, for each image reference it reads, what the Go parsers the
// nodes use make of it: github.com/distribution/reference v0.6.0 (the kubelet's and containerd's:
// Parse, ParseNamed, ParseNormalizedNamed, ParseDockerRef, ParseAnyReference) and CRI-O's fork,
// go.podman.io/image/v5/docker/reference (ParseNormalizedNamed). tests/integration/
// reference-oracle.integration.ts compares src/core/reference.ts with it; hack/reference-oracle/
// build.sh builds it into the tool cache.
//
// Input: one JSON string per line (so that any string, newlines included, can be sent).
// Output: one JSON object per input line, in order:
//
//	{"parse":R,"named":R,"normalized":R,"dockerRef":R,"any":R,"crio":R,"grammar":G}
//
// where R is {"error":KIND,"message":MSG} or {"domain","path","tag","digest","string",
// "familiarName","familiarString"} (tag and digest "" when absent), and "any" may also be
// {"digestOnly":D}. KIND names the Go error as src/core/reference.ts's ReferenceErrorKind does.
// G says which of the package's exported regexps (DomainRegexp, NameRegexp, ReferenceRegexp,
// TagRegexp, DigestRegexp, IdentifierRegexp) match the whole input, by the names of reference.ts's
// `grammar`.
// With -time, it only parses (ParseNormalizedNamed) every input 'rounds' times and prints the
// nanoseconds taken, for the figures in the test's log.
package main

import (
	"bufio"
	_ "crypto/sha256" // go-digest validates only the algorithms linked in: the kubelet's and
	_ "crypto/sha512" // containerd's binaries link both (sha256, sha384, sha512)
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	crio "go.podman.io/image/v5/docker/reference"
)

type failure struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

type digestOnly struct {
	DigestOnly string `json:"digestOnly"`
}

type result struct {
	Domain         string `json:"domain"`
	Path           string `json:"path"`
	Tag            string `json:"tag"`
	Digest         string `json:"digest"`
	String         string `json:"string"`
	FamiliarName   string `json:"familiarName"`
	FamiliarString string `json:"familiarString"`
}

type answer struct {
	Parse      any `json:"parse"`
	Named      any `json:"named"`
	Normalized any `json:"normalized"`
	DockerRef  any `json:"dockerRef"`
	Any        any `json:"any"`
	Crio       any `json:"crio"`
	// Whether the package's exported regexps match the whole input (grammar in reference.ts).
	Grammar map[string]bool `json:"grammar"`
}

// anchoredGrammar: the exported regexps of distribution/reference, anchored, by reference.ts's names.
var anchoredGrammar = map[string]*regexp.Regexp{
	"anchoredDomain":     anchor(reference.DomainRegexp),
	"anchoredName":       anchor(reference.NameRegexp),
	"anchoredReference":  anchor(reference.ReferenceRegexp),
	"anchoredTag":        anchor(reference.TagRegexp),
	"anchoredDigest":     anchor(reference.DigestRegexp),
	"anchoredIdentifier": anchor(reference.IdentifierRegexp),
}

func anchor(r *regexp.Regexp) *regexp.Regexp { return regexp.MustCompile(`^(?:` + r.String() + `)$`) }

// kind maps a Go error to src/core/reference.ts's ReferenceErrorKind.
func kind(err error) string {
	switch {
	case errors.Is(err, reference.ErrNameEmpty), errors.Is(err, crio.ErrNameEmpty):
		return "NameEmpty"
	case errors.Is(err, reference.ErrNameTooLong), errors.Is(err, crio.ErrNameTooLong):
		return "NameTooLong"
	case errors.Is(err, reference.ErrNameContainsUppercase), errors.Is(err, crio.ErrNameContainsUppercase):
		return "NameContainsUppercase"
	case errors.Is(err, reference.ErrNameNotCanonical), errors.Is(err, crio.ErrNameNotCanonical):
		return "NameNotCanonical"
	case errors.Is(err, reference.ErrTagInvalidFormat), errors.Is(err, crio.ErrTagInvalidFormat):
		return "TagInvalidFormat"
	case errors.Is(err, digest.ErrDigestInvalidFormat):
		return "DigestInvalidFormat"
	case errors.Is(err, digest.ErrDigestInvalidLength):
		return "DigestInvalidLength"
	case errors.Is(err, digest.ErrDigestUnsupported):
		return "DigestUnsupported"
	case errors.Is(err, reference.ErrReferenceInvalidFormat), errors.Is(err, crio.ErrReferenceInvalidFormat):
		return "ReferenceInvalidFormat"
	}
	msg := err.Error()
	switch {
	// normalize.go: fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	case strings.HasPrefix(msg, "invalid repository name (") && strings.HasSuffix(msg, "cannot specify 64-byte hexadecimal strings"):
		return "IdentifierNotAllowed"
	// normalize.go: fmt.Errorf("invalid reference format: repository name (%s) must be lowercase", remote)
	case strings.HasPrefix(msg, "invalid reference format: repository name") && strings.HasSuffix(msg, "must be lowercase"):
		return "NameContainsUppercase"
	}
	return "Unknown"
}

func failed(err error) any { return failure{Error: kind(err), Message: err.Error()} }

type named interface {
	Name() string
	String() string
}

func fields(domain, path string, n named, tag, dgst, familiarName, familiarString string) result {
	return result{Domain: domain, Path: path, Tag: tag, Digest: dgst, String: n.String(), FamiliarName: familiarName, FamiliarString: familiarString}
}

func distribution(n reference.Named, err error) any {
	if err != nil {
		return failed(err)
	}
	var tag, dgst string
	if t, ok := n.(reference.Tagged); ok {
		tag = t.Tag()
	}
	if d, ok := n.(reference.Digested); ok {
		dgst = d.Digest().String()
	}
	return fields(reference.Domain(n), reference.Path(n), n, tag, dgst, reference.FamiliarName(n), reference.FamiliarString(n))
}

func crioResult(n crio.Named, err error) any {
	if err != nil {
		return failed(err)
	}
	var tag, dgst string
	if t, ok := n.(crio.Tagged); ok {
		tag = t.Tag()
	}
	if d, ok := n.(crio.Digested); ok {
		dgst = d.Digest().String()
	}
	return fields(crio.Domain(n), crio.Path(n), n, tag, dgst, crio.FamiliarName(n), crio.FamiliarString(n))
}

func asNamed(r reference.Reference, err error) (reference.Named, error) {
	if err != nil {
		return nil, err
	}
	n, ok := r.(reference.Named)
	if !ok {
		return nil, fmt.Errorf("reference %s has no name", r.String())
	}
	return n, nil
}

func answerFor(s string) answer {
	var a answer
	a.Parse = distribution(asNamed(reference.Parse(s)))
	a.Named = distribution(reference.ParseNamed(s))
	a.Normalized = distribution(reference.ParseNormalizedNamed(s))
	a.DockerRef = distribution(reference.ParseDockerRef(s))
	if r, err := reference.ParseAnyReference(s); err != nil {
		a.Any = failed(err)
	} else if n, ok := r.(reference.Named); ok {
		a.Any = distribution(n, nil)
	} else {
		a.Any = digestOnly{DigestOnly: r.String()}
	}
	a.Crio = crioResult(crio.ParseNormalizedNamed(s))
	a.Grammar = make(map[string]bool, len(anchoredGrammar))
	for name, r := range anchoredGrammar {
		a.Grammar[name] = r.MatchString(s)
	}
	return a
}

func main() {
	timing := flag.Bool("time", false, "only time ParseNormalizedNamed over the input; print the nanoseconds")
	rounds := flag.Int("rounds", 1, "with -time: how many times to parse the whole input")
	flag.Parse()

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 64<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)

	var inputs []string
	for in.Scan() {
		var s string
		if err := json.Unmarshal(in.Bytes(), &s); err != nil {
			fmt.Fprintf(os.Stderr, "reference-oracle: line is not a JSON string: %v\n", err)
			os.Exit(2)
		}
		if *timing {
			inputs = append(inputs, s)
			continue
		}
		if err := enc.Encode(answerFor(s)); err != nil {
			fmt.Fprintf(os.Stderr, "reference-oracle: %v\n", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "reference-oracle: %v\n", err)
		os.Exit(1)
	}
	if *timing {
		start := time.Now()
		valid := 0
		for r := 0; r < *rounds; r++ {
			for _, s := range inputs {
				if _, err := reference.ParseNormalizedNamed(s); err == nil {
					valid++
				}
			}
		}
		fmt.Fprintf(out, "{\"inputs\":%d,\"rounds\":%d,\"valid\":%d,\"ns\":%d}\n", len(inputs), *rounds, valid, time.Since(start).Nanoseconds())
	}
}
