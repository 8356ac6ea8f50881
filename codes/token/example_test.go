package token_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/gridhub/gridhub/codes/token"
	"github.com/gridhub/gridhub/hub"
)

// A city signs a code; a checkpoint in another city verifies it offline
// from a trust list that recognises the first city's key.
func ExampleVerify() {
	seed := make([]byte, ed25519.SeedSize) // a real issuer keeps a secret seed
	issuer, err := token.NewIssuer("Shanghai", "sh-2020-02", ed25519.NewKeyFromSeed(seed), 24*time.Hour)
	if err != nil {
		panic(err)
	}
	issued := time.Date(2020, 2, 10, 8, 0, 0, 0, time.UTC)
	code, err := issuer.Issue("JBSWY3DPEHPK3PXPJBSWY3DPEH", hub.Green, issued)
	if err != nil {
		panic(err)
	}

	trust, err := token.NewTrustList(issuer.TrustedKey(issued.Add(-24*time.Hour), time.Time{}))
	if err != nil {
		panic(err)
	}
	got, err := token.Verify(code.Token, trust, issued.Add(2*time.Hour))
	fmt.Println(got.Issuer, got.SubjectID, got.Colour, got.Expires.Format(time.RFC3339), err)

	_, err = token.Verify(code.Token, trust, issued.Add(25*time.Hour))
	fmt.Println(token.ReasonOf(err))
	// Output:
	// Shanghai JBSWY3DPEHPK3PXPJBSWY3DPEH GREEN 2020-02-11T08:00:00Z <nil>
	// EXPIRED
}
