package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
	"github.com/skip2/go-qrcode"
)

// This file serves pickup codes as QR images, for a resident to show at
// the pharmacy counter and the pharmacy to scan, and health codes for a
// checkpoint to scan. It is the only importer
// of go-qrcode.

// PickupQRRoute is the pattern PickupQR is mounted at (Options.PickupQR):
// GET /pickup/{id}/qr.png, id an allocation ID.
const PickupQRRoute = "GET /pickup/{id}/qr.png"

// PickupQRPrefix starts the text a pickup QR code holds: the text is
// PickupQRPrefix followed by the code in its canonical form, e.g.
// "GRIDHUB-PICKUP:7KQ2-M9XD-4TPA-H". The prefix tells a scanner the code
// is a Gridhub pickup code; redeem takes the scanned text as it is.
const PickupQRPrefix = "GRIDHUB-PICKUP:"

// PickupQRSize is the width and height of a pickup QR image in pixels.
const PickupQRSize = 256

// PickupLookup returns the pickup code of an allocation for a caller. It
// decides who may see it; its errors are *hub.Error codes that PickupQR
// answers as HTTP statuses (UNAUTHENTICATED 401, FORBIDDEN 403, NOT_FOUND
// 404, BAD_USER_INPUT 400, anything else 500), and their messages must not
// hold the code.
type PickupLookup func(ctx context.Context, p auth.Principal, allocationID string) (code string, err error)

// PickupQR returns the handler of PickupQRRoute: a PNG QR image (medium
// error correction, PickupQRSize pixels square) of the allocation's pickup
// code as PickupQRPrefix describes, for the caller of a valid bearer token
// (Authorization header) whom lookup lets see it. Without a valid token it
// answers 401; lookup's refusals are answered by their code, with a
// GraphQL-shaped error body. Nothing it answers may be cached. Internal
// errors are logged to log (nil: discarded) and answered as INTERNAL with
// no detail.
func PickupQR(v Verifier, lookup PickupLookup, log *slog.Logger) http.Handler {
	return qrImage(v, "a pickup code's QR image needs its owner's token", func(ctx context.Context, p auth.Principal, id string) (string, error) {
		code, err := lookup(ctx, p, id)
		return PickupQRPrefix + code, err
	}, log)
}

// HealthQRRoute is the pattern HealthQR is mounted at (Options.HealthQR):
// GET /code/{id}/qr.png, id a resident ID.
const HealthQRRoute = "GET /code/{id}/qr.png"

// HealthLookup returns the text of a resident's signed health code (the
// "GH1:..." token) for a caller, like PickupLookup.
type HealthLookup func(ctx context.Context, p auth.Principal, residentID string) (token string, err error)

// HealthQR returns the handler of HealthQRRoute: a PNG QR image, like
// PickupQR's, of a resident's health code as freshly signed, for the
// callers lookup lets see it. The image holds the token as it is: a
// checkpoint verifies it offline against the trust list.
func HealthQR(v Verifier, lookup HealthLookup, log *slog.Logger) http.Handler {
	return qrImage(v, "a health code's QR image needs its holder's token", qrText(lookup), log)
}

type qrText func(ctx context.Context, p auth.Principal, id string) (text string, err error)

// qrImage serves a PNG QR image (medium error correction, PickupQRSize
// pixels square) of the text lookup gives the authenticated caller for
// the path's id.
func qrImage(v Verifier, needToken string, lookup qrText, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			writeAppError(w, http.StatusUnauthorized, hub.Errorf(hub.EUNAUTHORIZED, "%s", needToken))
			return
		}
		text, err := lookup(r.Context(), p, r.PathValue("id"))
		if err != nil {
			status := pickupStatus(err)
			if status == http.StatusInternalServerError {
				log.ErrorContext(r.Context(), "QR image", "err", err)
			}
			writeAppError(w, status, err)
			return
		}
		img, err := qrcode.Encode(text, qrcode.Medium, PickupQRSize)
		if err != nil {
			log.ErrorContext(r.Context(), "QR image: encode", "err", err) // its messages never hold the content
			writeAppError(w, http.StatusInternalServerError, errors.New("encode"))
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Content-Length", strconv.Itoa(len(img)))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(img)
	})
	return private(v, serve)
}

// pickupStatus is the HTTP status of a lookup's error.
func pickupStatus(err error) int {
	switch hub.ErrorCode(err) {
	case hub.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case hub.EFORBIDDEN:
		return http.StatusForbidden
	case hub.ENOTFOUND:
		return http.StatusNotFound
	case hub.EINVALID:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// private serves h to the callers v authenticates (everyone when v is nil),
// and never lets a cache keep the answer: what it serves is one person's.
func private(v Verifier, h http.Handler) http.Handler {
	if v != nil {
		h = authenticate(v, h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}
