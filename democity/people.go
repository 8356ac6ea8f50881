package democity

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/gridhub/gridhub/privacy"
)

// Synthetic people and places. Everything here draws from the caller's
// generator only, with integer arithmetic, so that a seed gives the same
// text on every platform.

// surnames are Taiwan's common family names, most common first; a name is
// drawn with weight len(surnames)-i so the first are the most frequent.
var surnames = []string{
	"陳", "林", "黃", "張", "李", "王", "吳", "劉", "蔡", "楊", "許", "鄭", "謝", "郭", "洪",
	"曾", "邱", "廖", "賴", "周", "徐", "蘇", "葉", "莊", "呂", "江", "何", "蕭", "羅", "高",
}

var givenMale = []string{
	"志明", "家豪", "俊傑", "建宏", "宗翰", "冠宇", "承翰", "柏翰", "彥廷", "明輝",
	"文雄", "國華", "信宏", "志偉", "正雄", "嘉慶", "育誠", "子豪", "偉倫", "品睿",
}

var givenFemale = []string{
	"淑芬", "雅婷", "怡君", "美玲", "佩君", "淑惠", "雅雯", "欣怡", "怡婷", "惠美",
	"詩涵", "心怡", "家瑜", "靜怡", "宜蓁", "佳穎", "秀英", "玉珍", "筱婷", "思妤",
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// surname draws a family name, the common ones more often.
func surname(rng *rand.Rand) string {
	n := len(surnames)
	x := rng.IntN(n * (n + 1) / 2)
	for i := range surnames {
		w := n - i
		if x < w {
			return surnames[i]
		}
		x -= w
	}
	return surnames[0]
}

// personName returns a full name for a person of the given sex (1 male, 2
// female, as in the ID number).
func personName(rng *rand.Rand, sex int) string {
	if sex == 1 {
		return surname(rng) + pick(rng, givenMale)
	}
	return surname(rng) + pick(rng, givenFemale)
}

// idNumber returns a Taiwan-style national ID number: the letter of the
// place of first registration, 1 (male) or 2 (female), seven digits and a
// valid check digit (privacy.TaiwanCheckDigit). These are synthetic: they
// pass the checksum, as real ones do, and belong to nobody known.
func idNumber(rng *rand.Rand, letter byte, sex int) string {
	var b strings.Builder
	b.WriteByte(letter)
	b.WriteByte(byte('0' + sex))
	for range 7 {
		b.WriteByte(byte('0' + rng.IntN(10)))
	}
	first9 := b.String()
	return first9 + string(privacy.TaiwanCheckDigit(first9))
}

// mobile returns a Taiwan mobile number, 09xx-xxx-xxx.
func mobile(rng *rand.Rand) string {
	return fmt.Sprintf("09%02d-%03d-%03d", rng.IntN(100), rng.IntN(1000), rng.IntN(1000))
}

// landline returns a number in the (02) area, as pharmacies list them.
func landline(rng *rand.Rand) string {
	return fmt.Sprintf("(02)2%07d", rng.IntN(10_000_000))
}

var roads = []string{
	"忠孝東路", "忠孝西路", "仁愛路", "信義路", "和平東路", "羅斯福路", "重慶南路", "中山北路", "民生東路",
	"南京東路", "復興南路", "敦化南路", "光復南路", "基隆路", "承德路", "延平北路", "民權東路", "松江路",
	"新生南路", "建國北路", "中正路", "中華路", "民族路", "文化路", "成功路", "自由路", "大同路", "光明路",
}

var sections = []string{"", "", "一段", "二段", "三段", "四段"}

// address returns a street address in the given place ("臺北市中正區").
func address(rng *rand.Rand, place string, floor bool) string {
	a := place + pick(rng, roads) + pick(rng, sections)
	if rng.IntN(3) == 0 {
		a += fmt.Sprintf("%d巷", 1+rng.IntN(300))
	}
	a += fmt.Sprintf("%d號", 1+rng.IntN(400))
	if floor {
		a += fmt.Sprintf("%d樓", 1+rng.IntN(15))
	}
	return a
}

var pharmacyWords = []string{
	"康寧", "大安", "仁愛", "博愛", "長安", "永康", "福安", "和平", "信義", "民生", "建國", "中興", "明德", "安心",
	"健安", "杏林", "佑康", "宏仁", "惠民", "濟生", "保安", "全民", "維康", "躍獅", "丁丁", "啄木鳥", "松青", "日日",
}

var pharmacySuffixes = []string{"藥局", "藥局", "藥局", "健保藥局", "藥師藥局", "連鎖藥局"}

func pharmacyName(rng *rand.Rand) string {
	return pick(rng, pharmacyWords) + pick(rng, pharmacySuffixes)
}

// hourPatterns are service periods seen in the NHIA file (21 characters,
// Monday to Sunday mornings, afternoons, evenings; Y = closed), with how
// often a synthetic pharmacy takes each.
var hourPatterns = []struct {
	hours  string
	weight int
}{
	{"NNNNNNNNNNNNNNNNNNNNN", 60}, // open every period
	{"NNNNNNYNNNNNNYNNNNNNY", 14}, // closed on Sundays
	{"NNNNNNNNNNNNNYNNNNNNY", 12}, // closed on Sunday afternoons and evenings
	{"NNNNNNNNNNNNNNNNNNNNY", 9},  // closed on Sunday evenings
	{"NNNNNNYNNNNNYYNNNNNYY", 5},  // closed on Saturday afternoons and evenings, and Sundays
}

func hours(rng *rand.Rand) string {
	x := rng.IntN(100)
	for _, p := range hourPatterns {
		if x < p.weight {
			return p.hours
		}
		x -= p.weight
	}
	return hourPatterns[0].hours
}
