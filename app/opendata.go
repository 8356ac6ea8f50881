package app

import (
	"context"

	"github.com/gridhub/gridhub/opendata"
)

// openData returns the open-data feed of the hub's pharmacies, kept current
// by the event bus while ctx lives. When the bus cannot be watched the
// feed still serves, rendering on every read.
func (p *Program) openData(ctx context.Context) *opendata.Feed {
	f := opendata.New(p.Store, nil)
	if err := f.Watch(ctx, p.Bus); err != nil {
		p.Log.Error("open data: serving without a cache", "err", err)
	}
	return f
}
