// A peer-like baseline for the benchmark's HTTPS section (bench/lib/https.ts): a minimal Go
// mutating webhook with one prefix rule, in the manner of Go webhooks such as
// harbor-container-webhook (net/http with TLS, keep-alive, every core), standard library only.
// It decodes the AdmissionReview, rewrites the images of the Pod's init and app containers that
// start with FROM to start with TO, and answers the JSON Patch in base64. No parsing of references,
// no warnings, no annotations, no logs.
//
//	go-webhook CERT_FILE KEY_FILE FROM TO
//
// Prints {"msg":"listening","port":N} on stdout once it listens on 127.0.0.1; SIGTERM stops it.
package main

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

type container struct {
	Image string `json:"image"`
}

type review struct {
	APIVersion string `json:"apiVersion"`
	Request    struct {
		UID    string `json:"uid"`
		Object struct {
			Spec struct {
				InitContainers []container `json:"initContainers"`
				Containers     []container `json:"containers"`
			} `json:"spec"`
		} `json:"object"`
	} `json:"request"`
}

type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

type response struct {
	UID       string `json:"uid"`
	Allowed   bool   `json:"allowed"`
	PatchType string `json:"patchType,omitempty"`
	Patch     string `json:"patch,omitempty"`
}

type answer struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Response   response `json:"response"`
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: go-webhook CERT_FILE KEY_FILE FROM TO")
		os.Exit(64)
	}
	from, to := os.Args[3], os.Args[4]
	pair, err := tls.LoadX509KeyPair(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/mutate/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20))
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var rv review
		if err := json.Unmarshal(body, &rv); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var ops []op
		for _, list := range []struct {
			name       string
			containers []container
		}{{"initContainers", rv.Request.Object.Spec.InitContainers}, {"containers", rv.Request.Object.Spec.Containers}} {
			for i, c := range list.containers {
				if strings.HasPrefix(c.Image, from) {
					ops = append(ops, op{"replace", "/spec/" + list.name + "/" + strconv.Itoa(i) + "/image", to + c.Image[len(from):]})
				}
			}
		}
		out := answer{APIVersion: rv.APIVersion, Kind: "AdmissionReview", Response: response{UID: rv.Request.UID, Allowed: true}}
		if len(ops) > 0 {
			patch, _ := json.Marshal(ops)
			out.Response.PatchType = "JSONPatch"
			out.Response.Patch = base64.StdEncoding.EncodeToString(patch)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server := &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{pair},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		},
		// HTTP/1.1 only, like serve and the bare node server.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	fmt.Printf("{\"msg\":\"listening\",\"port\":%d}\n", ln.Addr().(*net.TCPAddr).Port)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = server.Close()
	}()
	if err := server.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
