package resolvers

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/codes"
	"github.com/gridhub/gridhub/codes/token"
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

// healthQRPath is where the PNG QR image of a resident's code is served.
func healthQRPath(residentID string) string {
	return "/code/" + url.PathEscape(residentID) + "/qr.png"
}

// reader is who reads a trajectory or contacts, for the audit trail.
func reader(ctx context.Context, purpose string) codes.Reader {
	p, _ := auth.FromContext(ctx)
	return codes.Reader{Role: string(p.Role), ID: p.Scope, Subject: p.Subject, Purpose: purpose}
}

// healthCode signs a resident's colour now and says why it is that colour.
func (r *Resolver) healthCode(ctx context.Context, residentID string) (*model.HealthCode, error) {
	ic, err := r.Codes.Code(ctx, residentID)
	if err != nil {
		return nil, err
	}
	hc, err := r.City.Store().HealthCode(ctx, residentID)
	if err != nil {
		return nil, err
	}
	return codeOf(ic, hc, residentID), nil
}

func codeOf(ic hub.IssuedCode, hc *hub.HealthCode, residentID string) *model.HealthCode {
	reasons := hc.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	return &model.HealthCode{
		Colour: ic.Colour, Reasons: reasons, Subject: ic.SubjectID, Token: ic.Token,
		Issuer: ic.Issuer, KeyID: ic.KeyID, Issued: ic.Issued, Expires: ic.Expires,
		QRURL: healthQRPath(residentID), UpdatedAt: hc.UpdatedAt,
	}
}

// declareHealth files a declaration. Who files follows from the token: a
// resident files for themselves, a committee as that committee, and an
// enterprise or school is named in the input (ADMIN only).
func (r *Resolver) declareHealth(ctx context.Context, in model.DeclareHealthInput) (*model.DeclareHealthResult, error) {
	p, _ := auth.FromContext(ctx)
	d := codes.DeclareInput{
		ResidentID: in.ResidentID, Symptoms: in.Symptoms, Temperature: deref(in.Temperature),
		TravelFromRisk: in.TravelFromRisk, ContactWithCase: in.ContactWithCase, FiledByKind: in.FiledBy,
	}
	org := strings.TrimSpace(deref(in.Organisation))
	switch in.FiledBy {
	case hub.FiledBySelf:
		if p.Role == auth.Committee {
			return nil, hub.Errorf(hub.EINVALID, "a committee files with filedBy COMMITTEE")
		}
	case hub.FiledByCommittee:
		if p.Role == auth.Committee {
			d.FiledBy = p.Scope
		} else {
			d.FiledBy = org // ADMIN names the committee
		}
	case hub.FiledByEnterprise, hub.FiledBySchool:
		d.FiledBy = org
	}
	if org != "" && in.FiledBy == hub.FiledBySelf {
		return nil, hub.Errorf(hub.EINVALID, "organisation is only for filedBy ENTERPRISE, SCHOOL or COMMITTEE")
	}
	if in.Temperature != nil && *in.Temperature == 0 {
		return nil, hub.Errorf(hub.EINVALID, "temperature 0 °C: leave it out when not measured")
	}
	dcl, hc, err := r.Codes.Declare(ctx, d)
	if err != nil {
		return nil, err
	}
	ic, err := r.Codes.Code(ctx, dcl.ResidentID)
	if err != nil {
		return nil, err
	}
	return &model.DeclareHealthResult{Declaration: dcl, Code: codeOf(ic, hc, dcl.ResidentID)}, nil
}

// recordScan records a scan. A CHECKPOINT token scans at its own
// checkpoint. A code that does not verify is a DENY with the reason, and
// nothing is recorded; an unknown checkpoint or an impossible temperature
// is an error.
func (r *Resolver) recordScan(ctx context.Context, in model.ScanInput) (*model.ScanOutcome, error) {
	if len(in.Code) > maxCodeLen {
		return nil, hub.Errorf(hub.EINVALID, "a code is at most %d characters", maxCodeLen)
	}
	cp := deref(in.CheckpointID)
	if p, _ := auth.FromContext(ctx); p.Role == auth.Checkpoint {
		if cp != "" && cp != p.Scope {
			return nil, forbidden(p)
		}
		cp = p.Scope
	}
	if cp == "" {
		return nil, hub.Errorf(hub.EINVALID, "no checkpoint: give checkpointId")
	}
	if in.Temperature != nil && *in.Temperature == 0 {
		return nil, hub.Errorf(hub.EINVALID, "temperature 0 °C: leave it out when not measured")
	}
	sc, err := r.Codes.RecordScan(ctx, codes.ScanInput{
		CheckpointID: cp, Token: in.Code, Temperature: deref(in.Temperature), At: deref(in.At),
	})
	if reason := token.ReasonOf(err); reason != "" {
		var te *token.Error
		errors.As(err, &te)
		out := &model.ScanOutcome{Result: hub.ScanDeny, Reason: optionalString(string(reason))}
		if te != nil {
			out.Detail = optionalString(te.Error())
		}
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.ScanOutcome{Result: sc.Result, Scan: sc}, nil
}

func (r *Resolver) trajectory(ctx context.Context, residentID string, since time.Time, purpose string, first int) ([]*hub.Scan, error) {
	if first < 1 || first > codes.MaxTrajectory {
		return nil, hub.Errorf(hub.EINVALID, "first %d is outside [1, %d]", first, codes.MaxTrajectory)
	}
	return r.Codes.Trajectory(ctx, reader(ctx, purpose), residentID, since, first)
}

func (r *Resolver) contacts(ctx context.Context, residentID string, since time.Time, window int, purpose string) ([]*hub.Contact, error) {
	max := int(codes.MaxWindow / time.Minute)
	if window < 1 || window > max {
		return nil, hub.Errorf(hub.EINVALID, "window of %d minutes is outside [1, %d]", window, max)
	}
	cs, err := r.Codes.Contacts(ctx, reader(ctx, purpose), residentID, since, time.Duration(window)*time.Minute)
	return pointers(cs), err
}

func (r *Resolver) markCase(ctx context.Context, residentID string, at *time.Time, purpose string) ([]*hub.Contact, error) {
	cs, err := r.Codes.MarkCase(ctx, reader(ctx, purpose), residentID, deref(at))
	return pointers(cs), err
}

func (r *Resolver) riskAreas(ctx context.Context, all bool) ([]*hub.RiskArea, error) {
	return r.City.Store().RiskAreas(ctx, !all)
}

func (r *Resolver) declarationCounts(ctx context.Context, districtID string) ([]*hub.DeclarationCount, error) {
	cs, err := r.City.Store().DeclarationCounts(ctx, districtID)
	return pointers(cs), err
}

func (r *Resolver) colourCounts(ctx context.Context, districtID string) ([]*hub.ColourCount, error) {
	cs, err := r.City.Store().ColourCounts(ctx, districtID)
	return pointers(cs), err
}

// pointers returns pointers to the elements of s (nil stays nil but an
// empty list is never null to clients).
func pointers[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// optionalTemperature is a temperature for clients: null when not measured.
func optionalTemperature(t float64) *float64 {
	if t == 0 {
		return nil
	}
	return &t
}
