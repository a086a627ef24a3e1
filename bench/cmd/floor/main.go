// Command floor is the least an HTTP/JSON decision server can do: read the body and
// answer a fixed decision. bench/run.sh loads it exactly as it loads crmauthz and OPA,
// at crmauthz's rate, so that the report shows how much of a tail latency is this
// machine's own (its scheduler, network stack and virtual CPUs) and not the server's.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18383", "listen address")
	flag.Parse()
	answer := []byte(`{"allowed":true,"reason":"Allowed","message":"","template":"","deniedFields":[],"fields":{"hidden":[],"masked":[]},"revision":"0000000000000000","decisionId":"000000000000-1"}` + "\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
