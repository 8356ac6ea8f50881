package resolvers

import (
	"context"
	"encoding/base64"

	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/hub"
)

// maxCodeLen bounds a code's text before anything parses it.
const maxCodeLen = 1024

func (r *Resolver) trustList() []*model.TrustedKey {
	keys := r.Codes.TrustList().Keys()
	out := make([]*model.TrustedKey, len(keys))
	for i, k := range keys {
		out[i] = &model.TrustedKey{
			Issuer: k.Issuer, KeyID: k.KeyID, PublicKey: base64.StdEncoding.EncodeToString(k.PublicKey),
			NotBefore: k.NotBefore, NotAfter: optionalTime(k.NotAfter),
		}
	}
	return out
}

func (r *Resolver) verifyCode(ctx context.Context, text string) (*model.CodeVerification, error) {
	if len(text) > maxCodeLen {
		return nil, hub.Errorf(hub.EINVALID, "a code is at most %d characters", maxCodeLen)
	}
	v, err := r.Codes.VerifyCode(ctx, text)
	if err != nil {
		return nil, err
	}
	out := &model.CodeVerification{Valid: v.Valid, Reason: optionalString(string(v.Reason)), Detail: optionalString(v.Detail)}
	if c := v.Code; c.SubjectID != "" {
		colour := string(c.Colour)
		out.Subject, out.Colour, out.Issuer, out.KeyID = &c.SubjectID, &colour, &c.Issuer, &c.KeyID
		out.Issued, out.Expires = optionalTime(c.Issued), optionalTime(c.Expires)
	}
	out.CurrentColour = optionalString(string(v.Current))
	return out, nil
}
