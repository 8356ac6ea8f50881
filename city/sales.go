package city

import (
	"context"
	"strings"

	"github.com/gridhub/gridhub/hub"
)

// ReasonSale is the ledger reason of stock sold over the counter (Sell).
const ReasonSale = "SALE"

// Sell takes quantity units of sku out of a pharmacy's stock, as sold over
// the counter, records it in the ledger with reason SALE and publishes
// STOCK_CHANGED to the pharmacy's district. A sale alerts no neighborhood:
// only restocks do. Selling more than the pharmacy holds is an EOUTOFSTOCK
// error and changes nothing; a quantity outside [1, MaxRestock] is
// EINVALID.
func (s *Service) Sell(ctx context.Context, pharmacyID string, sku hub.SKU, quantity int) (*hub.Pharmacy, error) {
	if _, err := hub.ParseSKU(string(sku)); err != nil {
		return nil, err
	}
	if quantity <= 0 || quantity > MaxRestock {
		return nil, hub.Errorf(hub.EINVALID, "sale quantity %d is outside [1, %d]", quantity, MaxRestock)
	}
	change := hub.StockChange{PharmacyID: pharmacyID, SKU: sku, Delta: -quantity, Reason: ReasonSale, At: s.now()}
	p, err := s.store.AdjustStock(ctx, change)
	if err != nil {
		return nil, err
	}
	PublishStockChanged(ctx, s.events, p, hub.StockEntry{StockChange: change, After: p.Stock[sku]})
	return p, nil
}

// Correct moves a pharmacy's stock by delta (either way) to agree with a
// count made elsewhere (an inventory, the first figures of a feed),
// records it in the ledger with the given reason and publishes
// STOCK_CHANGED to the pharmacy's district, so that counters and
// dashboards follow. It is neither a restock nor a sale: it alerts no
// neighborhood. A correction below zero is EOUTOFSTOCK, a zero delta or a
// blank reason EINVALID.
func (s *Service) Correct(ctx context.Context, pharmacyID string, sku hub.SKU, delta int, reason string) (*hub.Pharmacy, error) {
	if _, err := hub.ParseSKU(string(sku)); err != nil {
		return nil, err
	}
	if delta == 0 || delta > MaxRestock || delta < -MaxRestock {
		return nil, hub.Errorf(hub.EINVALID, "correction %+d is zero or outside [-%d, %d]", delta, MaxRestock, MaxRestock)
	}
	if strings.TrimSpace(reason) == "" {
		return nil, hub.Errorf(hub.EINVALID, "a correction states its reason")
	}
	change := hub.StockChange{PharmacyID: pharmacyID, SKU: sku, Delta: delta, Reason: reason, At: s.now()}
	p, err := s.store.AdjustStock(ctx, change)
	if err != nil {
		return nil, err
	}
	PublishStockChanged(ctx, s.events, p, hub.StockEntry{StockChange: change, After: p.Stock[sku]})
	return p, nil
}
