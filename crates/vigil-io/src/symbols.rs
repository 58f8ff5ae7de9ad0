//! Instrument names in the spec's form: upper case, base and quote joined by a dash (`BTC-USDT`),
//! so that the same instrument on two venues has one name. Venues write `BTCUSDT` (Binance),
//! `BTC/USDT` (ccxt), `XBT/USD` and `XBTUSD` (Kraken, BitMEX), `BTC-USD` (Coinbase).

/// Quote assets a concatenated symbol (`BTCUSDT`) may end with. The longest that matches wins
/// (`BTCFDUSD` is FDUSD, not USD; `BTCBUSD` is BUSD) unless it leaves a base shorter than three
/// letters and a shorter quote does not (`XBTUSD` is XBT and USD, not XB and TUSD). `XBT` is
/// Kraken's and BitMEX's BTC.
const QUOTES: [&str; 19] =
    ["FDUSD", "USDT", "USDC", "BUSD", "TUSD", "DAI", "BTC", "XBT", "ETH", "BNB", "EUR", "GBP", "USD", "TRY", "JPY", "AUD", "BRL", "CHF", "CAD"];

fn asset(a: &str) -> &str {
    if a == "XBT" {
        "BTC"
    } else {
        a
    }
}

/// A venue's symbol in the spec's form: `btcusdt` → `BTC-USDT`, `XBT/USD` → `BTC-USD`, `XBTUSD` →
/// `BTC-USD`. A name with a dash (or a slash) keeps its split (`BTC-PERPETUAL`); a concatenated one is
/// split at the longest known quote asset it ends with, provided a base remains (see `QUOTES` for
/// the one exception); one that cannot be split is only upper-cased (`BTCUSD_PERP`). Two-letter bases
/// quoted in BUSD or TUSD read as three-letter bases in USD (`OPBUSD` → `OPB-USD`): venues that list
/// them write a separator or are read with their own symbol table.
pub fn normalise_symbol(raw: &str) -> String {
    let s = raw.trim().to_ascii_uppercase().replace('/', "-");
    if let Some((b, q)) = s.split_once('-') {
        if !b.is_empty() && !q.is_empty() {
            return format!("{}-{}", asset(b), asset(q));
        }
        return s;
    }
    // The longest quote that leaves a base of three letters or more, else the longest that leaves any:
    // `XBTUSD`, `DOTUSD` and `BNBUSD` end in TUSD or BUSD too, and no base is `XB`, `DO` or `BN`.
    let mut best: Option<&str> = None;
    let mut best_short: Option<&str> = None;
    for q in QUOTES {
        if s.len() > q.len() && s.ends_with(q) {
            let slot = if s.len() - q.len() >= 3 { &mut best } else { &mut best_short };
            if slot.is_none_or(|b| q.len() > b.len()) {
                *slot = Some(q);
            }
        }
    }
    match best.or(best_short) {
        Some(q) => format!("{}-{}", asset(&s[..s.len() - q.len()]), asset(q)),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_symbol as n;

    #[test]
    fn spec_form() {
        assert_eq!(n("BTCUSDT"), "BTC-USDT");
        assert_eq!(n("nknusdt"), "NKN-USDT");
        assert_eq!(n("ETHBTC"), "ETH-BTC");
        assert_eq!(n("LRCBTC"), "LRC-BTC");
        assert_eq!(n("RUNEEUR"), "RUNE-EUR");
        assert_eq!(n("BNBBUSD"), "BNB-BUSD");
        assert_eq!(n("BTCTUSD"), "BTC-TUSD");
        assert_eq!(n("1000SHIBUSDT"), "1000SHIB-USDT");
        assert_eq!(n("BTCFDUSD"), "BTC-FDUSD");
        assert_eq!(n("XBT/USD"), "BTC-USD");
        assert_eq!(n("XBTUSD"), "BTC-USD");
        assert_eq!(n("DOTUSD"), "DOT-USD");
        assert_eq!(n("BNBUSD"), "BNB-USD");
        assert_eq!(n("OPUSDT"), "OP-USDT");
        assert_eq!(n("WBTCBTC"), "WBTC-BTC");
        assert_eq!(n("USDTTRY"), "USDT-TRY");
        assert_eq!(n("ETHXBT"), "ETH-BTC");
        assert_eq!(n("KSM/XBT"), "KSM-BTC");
        assert_eq!(n("BTC/USDT"), "BTC-USDT");
        assert_eq!(n("BTC-PERPETUAL"), "BTC-PERPETUAL");
        assert_eq!(n("SKL-USD"), "SKL-USD");
        assert_eq!(n(" btc/usdt "), "BTC-USDT");
    }

    #[test]
    fn unsplittable_stays_upper_cased() {
        assert_eq!(n("USDT"), "USDT");
        assert_eq!(n("usd"), "USD");
        assert_eq!(n("BTCUSD_PERP"), "BTCUSD_PERP");
        assert_eq!(n("btcusdt_240329"), "BTCUSDT_240329");
        assert_eq!(n("-USD"), "-USD");
        assert_eq!(n(""), "");
    }
}
