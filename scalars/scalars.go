// Package scalars marshals Gridhub's custom GraphQL scalars. It is the
// only place where domain values meet gqlgen's marshalling, so the domain
// never imports gqlgen.
package scalars

import (
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gridhub/gridhub/grid"
	"github.com/gridhub/gridhub/hub"
)

// MarshalH3Cell writes a cell as its quoted hex string.
func MarshalH3Cell(c hub.Cell) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		io.WriteString(w, strconv.Quote(c.String()))
	})
}

// UnmarshalH3Cell reads a cell from its hex string and checks it is a
// valid H3 cell.
func UnmarshalH3Cell(v any) (hub.Cell, error) {
	s, ok := v.(string)
	if !ok {
		return 0, hub.Errorf(hub.EINVALID, "H3Cell must be a string, got %T", v)
	}
	return grid.ParseCell(s)
}

// MarshalTime writes an instant as RFC 3339 with nanoseconds, in UTC.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		io.WriteString(w, strconv.Quote(t.UTC().Format(time.RFC3339Nano)))
	})
}

// UnmarshalTime reads an RFC 3339 instant (see hub.ParseTime).
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, hub.Errorf(hub.EINVALID, "Time must be an RFC 3339 string, got %T", v)
	}
	return hub.ParseTime(s)
}
