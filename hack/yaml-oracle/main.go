// The YAML oracle for tests/integration/yaml-oracle.integration.ts: what kubectl makes of YAML
// documents. kubectl reads each document of a manifest with sigs.k8s.io/yaml's YAMLToJSON (go-yaml v2
// underneath), which refuses alias bombs by its own count (src/manifests/aliasing.ts ports it).
// Reads a JSON array of documents (strings) on stdin; writes a JSON array of the same length, each
// {"ok": true} or {"ok": false, "error": MESSAGE}; with the argument `json`, {"ok": true, "json":
// JSON}: the document as kubectl sends it to the API server.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"
)

type verdict struct {
	OK    bool   `json:"ok"`
	JSON  string `json:"json,omitempty"`
	Error string `json:"error,omitempty"`
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "yaml-oracle: reading stdin:", err)
		os.Exit(2)
	}
	var docs []string
	if err := json.Unmarshal(in, &docs); err != nil {
		fmt.Fprintln(os.Stderr, "yaml-oracle: stdin is not a JSON array of strings:", err)
		os.Exit(2)
	}
	withJSON := len(os.Args) > 1 && os.Args[1] == "json"
	out := make([]verdict, len(docs))
	for i, doc := range docs {
		if j, err := yaml.YAMLToJSON([]byte(doc)); err != nil {
			out[i] = verdict{Error: err.Error()}
		} else {
			out[i] = verdict{OK: true}
			if withJSON {
				out[i].JSON = string(j)
			}
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "yaml-oracle: writing stdout:", err)
		os.Exit(2)
	}
}
