package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
)

// ExportRoute is the pattern Export is mounted at (Options.Export): a
// resident downloads everything the hub holds about them.
const ExportRoute = "GET /me/export.json"

// ExportLookup returns the document of everything the hub holds about
// the caller, as a value encoding/json encodes. It decides who may have
// it; its errors are *hub.Error codes answered as HTTP statuses like a
// PickupLookup's.
type ExportLookup func(ctx context.Context, p auth.Principal) (doc any, err error)

// Export returns the handler of ExportRoute: the lookup's document as a
// JSON attachment (gridhub-export.json), for the caller of a valid bearer
// token (Authorization header). Without a token it answers 401; the
// lookup's refusals (403 for a role other than RESIDENT) are answered by
// their code with a GraphQL-shaped error body. Nothing it answers may be
// cached. Internal errors are logged to log (nil: discarded) and answered
// as INTERNAL with no detail.
func Export(v Verifier, lookup ExportLookup, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			writeAppError(w, http.StatusUnauthorized, hub.Errorf(hub.EUNAUTHORIZED, "an export needs its resident's token"))
			return
		}
		doc, err := lookup(r.Context(), p)
		if err != nil {
			status := pickupStatus(err)
			if status == http.StatusInternalServerError {
				log.ErrorContext(r.Context(), "export", "err", err)
			}
			writeAppError(w, status, err)
			return
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			log.ErrorContext(r.Context(), "export: encode", "err", err)
			writeAppError(w, http.StatusInternalServerError, err)
			return
		}
		b = append(b, '\n')
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="gridhub-export.json"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b)
	})
	return private(v, serve)
}
