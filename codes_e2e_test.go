package main

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/gridhub/gridhub/codes/token"
)

// TestTrustListAndVerify: the trust list is public, as GraphQL and as the
// static document checkpoints load; a checkpoint's verification says why a
// code is refused.
func TestTrustListAndVerify(t *testing.T) {
	h := startHub(t, t.TempDir())
	var q struct {
		TrustList []struct{ Issuer, KeyID, PublicKey string }
	}
	must(t, client{url: h.url}, `{ trustList { issuer keyId publicKey } }`, nil, &q)
	if len(q.TrustList) != 1 || q.TrustList[0].Issuer != "gridhub" || len(q.TrustList[0].PublicKey) != 44 {
		t.Fatalf("trustList = %+v", q)
	}
	resp, err := http.Get(h.url + "/trust.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tl, err := token.ParseTrustList(b)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/trust.json (status %d) does not parse: %v\n%s", resp.StatusCode, err, b)
	}
	if k, ok := tl.Key(q.TrustList[0].KeyID); !ok || k.Issuer != "gridhub" {
		t.Errorf("/trust.json lacks the key GraphQL lists: %s", b)
	}
	var v struct {
		VerifyCode struct {
			Valid  bool
			Reason *string
		}
	}
	must(t, h.as(t, "CHECKPOINT", "k1"), `{ verifyCode(token: "GH1:AAAA.BBBB") { valid reason } }`, nil, &v)
	if v.VerifyCode.Valid || v.VerifyCode.Reason == nil || *v.VerifyCode.Reason != "MALFORMED" {
		out, _ := json.Marshal(v)
		t.Errorf("a malformed code: %s, want valid false, reason MALFORMED", out)
	}
}
