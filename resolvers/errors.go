package resolvers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/hub"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// refused reports whether code is one of gqlgen's codes for a request it
// refused before running it; all of them are the caller's doing and reach
// clients as BAD_USER_INPUT, with the original code in extensions.reason.
func refused(code string) bool {
	switch code {
	case "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "COMPLEXITY_LIMIT_EXCEEDED":
		return true
	}
	return false
}

// errPanic marks a recovered panic; the presenter shows it as INTERNAL.
var errPanic = errors.New("panic in resolver")

// ErrorPresenter is the one place where errors become GraphQL errors: an
// application error shows its code and message; a request gqlgen refused
// shows BAD_USER_INPUT; anything else is logged once and shown as INTERNAL
// with no detail.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		var appErr *hub.Error
		code, _ := gqlErr.Extensions["code"].(string)
		switch {
		case errors.As(err, &appErr):
			gqlErr.Message = appErr.Message
			gqlErr.Extensions["code"] = appErr.Code
		case refused(code):
			gqlErr.Extensions["code"] = hub.EINVALID
			gqlErr.Extensions["reason"] = code
		case code != "":
			// A code gqlgen set that clients may rely on as it is (APQ).
		case gqlErr.Unwrap() == nil && !errors.Is(err, errPanic):
			// gqlgen's own message about the input's shape or type.
			gqlErr.Extensions["code"] = hub.EINVALID
		case errors.Is(err, errPanic):
			// Logged with its stack by Recover.
			gqlErr.Message = "internal error"
			gqlErr.Extensions["code"] = hub.EINTERNAL
		default:
			log.ErrorContext(ctx, "internal error", "path", gqlErr.Path.String(), "err", err)
			gqlErr.Message = "internal error"
			gqlErr.Extensions["code"] = hub.EINTERNAL
		}
		// gqlgen's own messages may quote the input (a literal, a
		// variable's value); none reaches the client longer than this.
		gqlErr.Message = hub.ClipBytes(gqlErr.Message, hub.MaxMessage)
		return gqlErr
	}
}

// Recover turns a panic in a resolver into an INTERNAL error after
// logging it with its stack.
func Recover(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		return fmt.Errorf("%w: %v", errPanic, v)
	}
}
