package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestRevokedTokenMeetsNoRecreatedTenant: a request checks its token
// before it locks or pins its tenant. If the tenant is deleted and created
// again in between (an id is free for reuse once deleted), the deleted
// tenant's token must not write into, nor read from, the new tenant: the
// request gets 401, as a request sent after the delete does.
//
// Each request is held between its token check and the rest by
// Expect: 100-continue: the server asks for the body (100 Continue) only
// when the handler first reads it, after the token was checked.
func TestRevokedTokenMeetsNoRecreatedTenant(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"write", "PUT", "/v1/tenants/x/models/FromOld", `{"properties": {"old": "string"}}`},
		{"validate", "POST", "/v1/tenants/x/models/Secret/validate", `{"s": "v"}`},
		{"lookup", "POST", "/v1/tenants/x/lookup", `{"properties": {"s": "string"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			old := ts.token("x")
			ts.must(201, ts.do("PUT", "/v1/tenants/x/models/Before", old, `{"properties": {"b": "string"}}`))

			conn, err := net.Dial("tcp", strings.TrimPrefix(ts.http.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
				tc.method, tc.path, old, len(tc.body))
			br := bufio.NewReader(conn)
			line, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
				t.Fatalf("want 100 Continue once the token was checked, got %q %v", line, err)
			}
			br.ReadString('\n') // the blank line that ends the 100 response

			// Meanwhile the tenant is deleted and created again, with a
			// model the old token must not see.
			ts.must(200, ts.do("DELETE", "/v1/tenants/x", testAdmin, nil))
			ts.must(201, ts.do("PUT", "/v1/tenants/x/models/Secret", testAdmin, `{"properties": {"s": "string"}}`))

			conn.Write([]byte(tc.body))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("the deleted tenant's token got %d on the new tenant, want 401", resp.StatusCode)
			}
			models, err := ts.store.Store.Models(t.Context(), "x")
			if err != nil || len(models) != 1 || models[0].Name != "Secret" {
				t.Errorf("the new tenant holds %+v (%v), want only Secret", models, err)
			}
		})
	}
}
