/** Content-script extractor: the start of a checkout (URL patterns in many languages). */
import { isCartUrl } from './cart.js';
import { urlPath } from './urlpath.js';

export const CHECKOUT_PATH = /(^|\/)(checkout|check-out|checkouts|secure-checkout|onepage|one-page-checkout|kasse|bestellung|commande|caisse|tunnel-de-commande|pago|tramitar-pedido|finalizar-compra|finalizar-pedido|cassa|pagamento|afrekenen|bestellen|kassa|zamowienie|zamówienie|realizacja-zamowienia|pokladna|pokladňa|objednavka|objednávka|narudzba|plačilo|kassan|kassen|ödeme|odeme|oformlenie-zakaza|order\/(new|create|address|shipping|payment)|shipping-address|delivery-address|payment)(\/|\.|$)/; // lower-cased path, no i flag (cheap to compile)
const DONE = /(confirm|success|thank|danke|merci|gracias|grazie|bedankt|complete|received|dziekujemy|obrigado|tack|kiitos)/;

export function isCheckoutUrl(url) {
  try {
    const u = new URL(url);
    const path = urlPath(u);
    return CHECKOUT_PATH.test(path) && !DONE.test(path) && !isCartUrl(url);
  } catch { return false; }
}
