package city

import (
	"context"

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
