package democity_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gridhub/gridhub/democity"
	"github.com/gridhub/gridhub/internal/citytest"
)

func ExampleSeed() {
	svc, done, err := citytest.Open(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer done()

	sum, err := democity.Seed(context.Background(), svc, democity.Options{Seed: 2020, Residents: 1000})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d districts, %d committees, %d pharmacies (%d real), %d checkpoints, %d residents\n",
		sum.Districts, sum.Committees, sum.Pharmacies, sum.RealPharmacies, sum.Checkpoints, sum.Residents)

	// At the next start the demo is there already: nothing is written.
	again, err := democity.Seed(context.Background(), svc, democity.Options{Seed: 2020, Residents: 1000})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("seeded again:", again.Seeded)
	// Output:
	// 7 districts, 343 committees, 98 pharmacies (40 real), 28 checkpoints, 1000 residents
	// seeded again: false
}
