"""Synthetic browsing-to-buying sessions for replaying and calibrating signal policies.

    python bench/signals/synth.py --subjects 5000 --seed 7 --out bench/signals/data

writes ``events.jsonl`` (one gesture event per line, plus ``subject``; grouped by subject, events of
a subject not in time order), ``labels.csv`` (``subject,label``; 1 = bought) and ``personas.csv``
(who each subject was, for analysing errors; never an input to scoring).

Who is in it (shares are defaults, see PERSONAS):
- browsers: look at many products in several categories over weeks, sometimes wishlist or add to a
  cart and drop it; almost never buy (a few impulse buys keep labels noisy);
- researchers: read reviews, compare and check prices in one or two categories for weeks, often
  abandon carts; a minority buys;
- shoppers: search, view products at several shops over days, compare, add to cart, check out; most
  buy, some abandon for good;
- impulse buyers: one short session, straight to checkout;
- declarers: declare an intent with a timeframe in the vault, then shop; most buy.
Everyone also produces background noise (page views in random categories), some have bought and
returned something in another category before, events come from several shops, product names and
queries are in English, German, French, Spanish, Italian, Dutch or Polish, about 1% of events are
re-sent with the same id, and timing follows sessions in waking hours over several weeks.

Prediction mode (default): the label says whether the subject bought; for buyers every event from
the buying session on is removed, so the engine must predict the purchase from what came before
(no purchase, and not the checkout that led to it). ``--mode full`` keeps everything.

The generator does not read the policy: it has its own vocabulary, so classification is tested too.
Nothing here is tuned to the policy's weights.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

# category -> (product nouns per language, brands, price range, google product category or None)
CATALOG: dict[str, tuple[dict[str, list[str]], list[str], tuple[int, int], str | None]] = {
    "tv": (
        {
            "en": ["4K Smart TV", "OLED TV"],
            "de": ["Fernseher", "OLED Fernseher"],
            "fr": ["Téléviseur 4K"],
            "es": ["Televisor"],
            "it": ["Televisore"],
            "nl": ["Televisie"],
            "pl": ["Telewizor"],
        },
        ["Samsung", "LG", "Sony", "Philips"],
        (300, 2500),
        "Electronics > Video > Televisions",
    ),
    "laptop": (
        {
            "en": ["Laptop", "Notebook"],
            "de": ["Laptop"],
            "fr": ["Ordinateur portable"],
            "es": ["Portátil"],
            "it": ["Portatile"],
            "nl": ["Laptop"],
            "pl": ["Laptop"],
        },
        ["Lenovo", "Dell", "HP", "Apple", "Asus"],
        (400, 2800),
        "Electronics > Computers > Laptops",
    ),
    "headphones": (
        {
            "en": ["Wireless Headphones", "Noise Cancelling Earbuds"],
            "de": ["Kopfhörer"],
            "fr": ["Casque sans fil"],
            "es": ["Auriculares"],
            "it": ["Cuffie"],
            "nl": ["Koptelefoon"],
            "pl": ["Słuchawki"],
        },
        ["Sony", "Bose", "Sennheiser", "JBL"],
        (40, 450),
        None,
    ),
    "washing": (
        {
            "en": ["Washing Machine 8kg"],
            "de": ["Waschmaschine 8 kg"],
            "fr": ["Lave-linge"],
            "es": ["Lavadora"],
            "it": ["Lavatrice"],
            "nl": ["Wasmachine"],
            "pl": ["Pralka"],
        },
        ["Bosch", "Miele", "Siemens", "AEG"],
        (350, 1400),
        None,
    ),
    "coffee": (
        {
            "en": ["Bean to Cup Coffee Machine", "Espresso Machine"],
            "de": ["Kaffeevollautomat"],
            "fr": ["Machine à café"],
            "es": ["Cafetera"],
            "it": ["Macchina da caffè"],
            "nl": ["Koffiemachine"],
            "pl": ["Ekspres do kawy"],
        },
        ["DeLonghi", "Jura", "Philips"],
        (150, 1200),
        None,
    ),
    "sofa": (
        {
            "en": ["3-Seater Sofa", "Corner Sofa"],
            "de": ["Sofa", "Ecksofa"],
            "fr": ["Canapé d'angle"],
            "es": ["Sofá"],
            "it": ["Divano"],
            "nl": ["Bank"],
            "pl": ["Sofa"],
        },
        ["IKEA", "Made", "Home24"],
        (300, 2500),
        "Furniture > Sofas",
    ),
    "mattress": (
        {
            "en": ["Memory Foam Mattress"],
            "de": ["Matratze"],
            "fr": ["Matelas"],
            "es": ["Colchón"],
            "it": ["Materasso"],
            "nl": ["Matras"],
            "pl": ["Materac"],
        },
        ["Emma", "Simba", "Tempur"],
        (200, 1500),
        None,
    ),
    "sneakers": (
        {
            "en": ["Sneakers", "Trainers"],
            "de": ["Sneaker"],
            "fr": ["Baskets"],
            "es": ["Zapatillas"],
            "it": ["Sneakers"],
            "nl": ["Sneakers"],
            "pl": ["Sneakersy"],
        },
        ["Nike", "Adidas", "Veja"],
        (60, 220),
        "Apparel & Accessories > Shoes > Athletic Shoes",
    ),
    "jacket": (
        {
            "en": ["Down Jacket", "Rain Jacket"],
            "de": ["Daunenjacke"],
            "fr": ["Doudoune"],
            "es": ["Chaqueta"],
            "it": ["Piumino"],
            "nl": ["Winterjas"],
            "pl": ["Kurtka"],
        },
        ["Patagonia", "North Face", "Uniqlo"],
        (50, 500),
        None,
    ),
    "bike": (
        {
            "en": ["Gravel Bike", "Road Bike"],
            "de": ["Rennrad", "Fahrrad"],
            "fr": ["Vélo de route"],
            "es": ["Bicicleta"],
            "it": ["Bicicletta"],
            "nl": ["Racefiets"],
            "pl": ["Rower"],
        },
        ["Canyon", "Trek", "Specialized"],
        (600, 4000),
        None,
    ),
    "smartphone": (
        {
            "en": ["Smartphone 128GB"],
            "de": ["Smartphone"],
            "fr": ["Smartphone"],
            "es": ["Móvil"],
            "it": ["Smartphone"],
            "nl": ["Smartphone"],
            "pl": ["Smartfon"],
        },
        ["Apple iPhone", "Samsung Galaxy", "Google Pixel"],
        (200, 1400),
        None,
    ),
    "stroller": (
        {
            "en": ["Stroller", "Pushchair"],
            "de": ["Kinderwagen"],
            "fr": ["Poussette"],
            "es": ["Cochecito"],
            "it": ["Passeggino"],
            "nl": ["Kinderwagen"],
            "pl": ["Wózek"],
        },
        ["Bugaboo", "Cybex", "Joolz"],
        (250, 1200),
        None,
    ),
    "hotel": (
        {
            "en": ["Hotel"],
            "de": ["Hotel"],
            "fr": ["Hôtel"],
            "es": ["Hotel"],
            "it": ["Albergo"],
            "nl": ["Hotel"],
            "pl": ["Hotel"],
        },
        ["Barcelona", "Rome", "Lisbon", "Vienna"],
        (80, 400),
        None,
    ),
    "flight": (
        {
            "en": ["Flights"],
            "de": ["Flüge"],
            "fr": ["Vols"],
            "es": ["Vuelos"],
            "it": ["Voli"],
            "nl": ["Vluchten"],
            "pl": ["Loty"],
        },
        ["Berlin", "Madrid", "Paris", "New York"],
        (40, 900),
        None,
    ),
    "tyres": (
        {
            "en": ["Winter Tyres"],
            "de": ["Winterreifen"],
            "fr": ["Pneus hiver"],
            "es": ["Neumáticos"],
            "it": ["Pneumatici"],
            "nl": ["Winterbanden"],
            "pl": ["Opony zimowe"],
        },
        ["Michelin", "Continental", "Pirelli"],
        (60, 220),
        None,
    ),
    "drill": (
        {
            "en": ["Cordless Drill"],
            "de": ["Akkuschrauber"],
            "fr": ["Perceuse visseuse"],
            "es": ["Taladro"],
            "it": ["Trapano"],
            "nl": ["Boormachine"],
            "pl": ["Wiertarka"],
        },
        ["Bosch", "Makita", "DeWalt"],
        (50, 350),
        None,
    ),
    "vacuum": (
        {
            "en": ["Cordless Vacuum Cleaner"],
            "de": ["Staubsauger"],
            "fr": ["Aspirateur"],
            "es": ["Aspiradora"],
            "it": ["Aspirapolvere"],
            "nl": ["Stofzuiger"],
            "pl": ["Odkurzacz"],
        },
        ["Dyson", "Roborock", "Miele"],
        (100, 800),
        None,
    ),
    "perfume": (
        {
            "en": ["Eau de Parfum"],
            "de": ["Parfüm"],
            "fr": ["Parfum"],
            "es": ["Perfume"],
            "it": ["Profumo"],
            "nl": ["Parfum"],
            "pl": ["Perfumy"],
        },
        ["Chanel", "Dior", "Hugo Boss"],
        (40, 200),
        None,
    ),
}
SHOPS = [f"https://{name}" for name in (
    "www.mediamarkt.example", "shop.example", "www.bol.example", "allegro.example", "www.fnac.example",
    "www.elcorteingles.example", "www.otto.example", "www.zalando.example", "www.coolblue.example",
    "www.booking.example", "www.decathlon.example", "www.amazon.example", "www.idealo.example",
)]  # fmt: skip
LANGS = ["en", "de", "fr", "es", "it", "nl", "pl"]


@dataclass
class Subject:
    name: str
    rng: random.Random
    lang: str
    events: list[dict[str, object]] = field(default_factory=list)
    label: int = 0
    cut: datetime | None = None  # prediction mode: drop events at or after this time

    def emit(self, kind: str, when: datetime, cat: str, shop: str, **extra: object) -> None:
        nouns, brands, (lo, hi), gpc = CATALOG[cat]
        rng = self.rng
        noun = rng.choice(nouns.get(self.lang) or nouns["en"])
        brand = rng.choice(brands)
        event: dict[str, object] = {
            "subject": self.name,
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": kind,
            "ts": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "origin": shop,
            "path": f"/{noun.lower().replace(' ', '-')}/p/{{id}}",
        }
        if kind in ("product_view", "cart_add", "wishlist_add", "checkout_start", "purchase", "review_read",
                    "price_check", "compare", "cart_abandon", "return", "review_write", "share"):  # fmt: skip
            product: dict[str, object] = {"name": f"{brand} {noun}", "brand": brand.split()[0],
                                          "price": round(rng.uniform(lo, hi), 2), "currency": "EUR"}  # fmt: skip
            if gpc and rng.random() < 0.4:
                product["category_hint"] = gpc
            event["product"] = product
        if kind == "search":
            event["query"] = f"{noun.lower()} {brand.lower()}" if rng.random() < 0.5 else noun.lower()
            event["path"] = "/search"
        if kind in ("product_view", "page_view", "review_read"):
            event["dwell_ms"] = int(min(rng.lognormvariate(10.0, 1.0), 1_800_000))
            event["scroll"] = round(rng.random(), 2)
        if kind == "page_view":
            event.pop("product", None)
            event["path"] = f"/c/{noun.lower().replace(' ', '-')}"
        event.update(extra)
        self.events.append(event)
        if rng.random() < 0.01:  # the extension re-sends a batch: same id
            self.events.append(dict(event))


def session_times(rng: random.Random, start: datetime, n: int) -> list[datetime]:
    out = []
    t = start.replace(hour=rng.randint(8, 22), minute=rng.randint(0, 59))
    for _ in range(n):
        t += timedelta(seconds=rng.randint(5, 240))
        out.append(t)
    return out


def shops_for(rng: random.Random, k: int) -> list[str]:
    return rng.sample(SHOPS, k)


def browse_session(s: Subject, day: datetime, cat: str, shops: list[str], n: int) -> datetime:
    times = session_times(s.rng, day, n)
    for t in times:
        kind = s.rng.choices(["product_view", "page_view", "search"], [0.6, 0.3, 0.1])[0]
        s.emit(kind, t, cat, s.rng.choice(shops))
    return times[-1]


def persona_browser(s: Subject, start: datetime, weeks: int) -> None:
    rng = s.rng
    cats = rng.sample(sorted(CATALOG), rng.randint(2, 6))
    for _ in range(rng.randint(4, 18)):
        day = start + timedelta(days=rng.uniform(0, weeks * 7))
        cat = rng.choice(cats)
        shops = shops_for(rng, rng.randint(1, 4))
        last = browse_session(s, day, cat, shops, rng.randint(2, 14))
        if rng.random() < 0.12:
            s.emit("wishlist_add", last + timedelta(seconds=20), cat, shops[0])
        if rng.random() < 0.05:
            s.emit("cart_add", last + timedelta(seconds=30), cat, shops[0])
            s.emit(rng.choice(["cart_remove", "cart_abandon"]), last + timedelta(minutes=3), cat, shops[0])
        if rng.random() < 0.05:
            s.emit("share", last + timedelta(seconds=40), cat, shops[0])
    if rng.random() < 0.03:  # label noise: an impulse buy nobody could see coming
        s.label = 1


def persona_researcher(s: Subject, start: datetime, weeks: int) -> None:
    rng = s.rng
    cats = rng.sample(sorted(CATALOG), rng.randint(1, 2))
    buys = rng.random() < 0.35
    days = sorted(start + timedelta(days=rng.uniform(0, weeks * 7)) for _ in range(rng.randint(3, 9)))
    for i, day in enumerate(days):
        cat = cats[i % len(cats)]
        shops = shops_for(rng, rng.randint(2, 5))
        times = session_times(rng, day, rng.randint(3, 10))
        for t in times:
            kind = rng.choices(["product_view", "review_read", "compare", "price_check", "search", "return_visit"],
                               [0.35, 0.25, 0.12, 0.1, 0.1, 0.08])[0]  # fmt: skip
            s.emit(kind, t, cat, rng.choice(shops))
        if rng.random() < 0.12:
            s.emit("cart_add", times[-1] + timedelta(seconds=30), cat, shops[0])
            s.emit("cart_abandon", times[-1] + timedelta(minutes=10), cat, shops[0])
        if rng.random() < 0.1:
            s.emit("wishlist_add", times[-1] + timedelta(seconds=10), cat, shops[0])
    if buys:
        buy_day = days[-1] + timedelta(days=rng.uniform(0.5, 5))
        buy_session(s, buy_day, cats[0], shops_for(rng, 1))


def buy_session(s: Subject, day: datetime, cat: str, shops: list[str]) -> None:
    rng = s.rng
    times = session_times(rng, day, rng.randint(3, 6))
    if s.cut is None:
        s.cut = times[0] - timedelta(seconds=1)
        s.label = 1
    for t in times[:-3]:
        s.emit("product_view", t, cat, shops[0])
    s.emit("cart_add", times[-3], cat, shops[0])
    s.emit("checkout_start", times[-2], cat, shops[0])
    s.emit("purchase", times[-1], cat, shops[0], value=round(rng.uniform(*CATALOG[cat][2]), 2))
    if rng.random() < 0.15:
        s.emit("return", times[-1] + timedelta(days=rng.uniform(3, 14)), cat, shops[0])
    elif rng.random() < 0.3:
        s.emit("review_write", times[-1] + timedelta(days=rng.uniform(7, 20)), cat, shops[0])


def persona_shopper(s: Subject, start: datetime, weeks: int) -> None:
    rng = s.rng
    cat = rng.choice(sorted(CATALOG))
    shops = shops_for(rng, rng.randint(2, 4))
    begin = start + timedelta(days=rng.uniform(0, max(1.0, weeks * 7 - 14)))
    n_days = rng.randint(2, 6)
    day = begin
    for i in range(n_days):
        day = begin + timedelta(days=i * rng.uniform(0.5, 3))
        times = session_times(rng, day, rng.randint(4, 14))
        for t in times:
            kind = rng.choices(["search", "product_view", "compare", "review_read", "price_check", "return_visit"],
                               [0.15, 0.5, 0.1, 0.12, 0.08, 0.05])[0]  # fmt: skip
            s.emit(kind, t, cat, rng.choice(shops))
        if rng.random() < 0.4:
            s.emit("cart_add", times[-1] + timedelta(seconds=30), cat, shops[0])
            if rng.random() < 0.5:
                s.emit("cart_abandon", times[-1] + timedelta(minutes=15), cat, shops[0])
        if rng.random() < 0.1:
            s.emit("share", times[-1] + timedelta(seconds=50), cat, shops[0])
    if rng.random() < 0.8:
        buy_session(s, day + timedelta(days=rng.uniform(0.1, 4)), cat, shops)


def persona_impulse(s: Subject, start: datetime, weeks: int) -> None:
    rng = s.rng
    cat = rng.choice(sorted(CATALOG))
    shop = shops_for(rng, 1)
    day = start + timedelta(days=rng.uniform(0, weeks * 7))
    if rng.random() < 0.5:  # a glance a few days earlier
        browse_session(s, day - timedelta(days=rng.uniform(1, 6)), cat, shop, rng.randint(1, 3))
    buy_session(s, day, cat, shop)


def persona_declarer(s: Subject, start: datetime, weeks: int) -> None:
    rng = s.rng
    cat = rng.choice(sorted(CATALOG))
    day = start + timedelta(days=rng.uniform(0, max(1.0, weeks * 7 - 20)))
    s.emit("declared_intent", day, cat, "https://vault.example", category=None,
           intent={"timeframe_days": rng.choice([7, 14, 30, 60]), "budget_max": float(CATALOG[cat][2][1]),
                   "currency": "EUR"},
           path="/intents", query=rng.choice(CATALOG[cat][0]["en"]).lower())  # fmt: skip
    shops = shops_for(rng, rng.randint(1, 3))
    for i in range(rng.randint(0, 4)):
        browse_session(s, day + timedelta(days=1 + i * rng.uniform(0.5, 3)), cat, shops, rng.randint(2, 6))
    if rng.random() < 0.7:
        buy_session(s, day + timedelta(days=rng.uniform(2, 14)), cat, shops)


PERSONAS = {
    "browser": (0.35, persona_browser),
    "researcher": (0.20, persona_researcher),
    "shopper": (0.30, persona_shopper),
    "impulse": (0.08, persona_impulse),
    "declarer": (0.07, persona_declarer),
}


def history(s: Subject, start: datetime) -> None:
    """An earlier purchase (and maybe a return) in some category, before the observed weeks."""
    rng = s.rng
    cat = rng.choice(sorted(CATALOG))
    when = start - timedelta(days=rng.uniform(20, 60))
    times = session_times(rng, when, 3)
    s.emit("product_view", times[0], cat, SHOPS[1])
    s.emit("cart_add", times[1], cat, SHOPS[1])
    s.emit("purchase", times[2], cat, SHOPS[1])
    if rng.random() < 0.3:
        s.emit("return", times[2] + timedelta(days=rng.uniform(2, 20)), cat, SHOPS[1])


def noise(s: Subject, start: datetime, weeks: int) -> None:
    rng = s.rng
    for _ in range(rng.randint(0, 12)):
        cat = rng.choice(sorted(CATALOG))
        s.emit(rng.choice(["page_view", "product_view", "search"]),
               start + timedelta(days=rng.uniform(0, weeks * 7), hours=rng.uniform(0, 12)), cat,
               rng.choice(SHOPS))  # fmt: skip


def generate(n: int, seed: int, weeks: int, mode: str, out: Path) -> tuple[int, int, dict[str, int]]:
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    names = list(PERSONAS)
    shares = [PERSONAS[k][0] for k in names]
    out.mkdir(parents=True, exist_ok=True)
    n_events = n_pos = 0
    mix: dict[str, int] = dict.fromkeys(names, 0)
    with (
        (out / "events.jsonl").open("w", encoding="utf-8") as ev,
        (out / "labels.csv").open("w") as lab,
        (out / "personas.csv").open("w") as who,
    ):
        lab.write("subject,label\n")
        who.write("subject,persona\n")
        for i in range(n):
            persona = rng.choices(names, shares)[0]
            mix[persona] += 1
            s = Subject(name=f"s{i:06d}", rng=random.Random(rng.getrandbits(64)), lang=rng.choice(LANGS))
            if s.rng.random() < 0.2:
                history(s, start)
            PERSONAS[persona][1](s, start, weeks)
            noise(s, start, weeks)
            events = s.events
            if mode == "predict" and s.cut is not None:
                cut = s.cut.astimezone(UTC).isoformat().replace("+00:00", "Z")
                events = [e for e in events if str(e["ts"]) < cut]
            s.rng.shuffle(events)  # grouped by subject, but not in time order
            for e in events:
                ev.write(json.dumps(e, ensure_ascii=False) + "\n")
            n_events += len(events)
            n_pos += s.label
            lab.write(f"{s.name},{s.label}\n")
            who.write(f"{s.name},{persona}\n")
    return n_events, n_pos, mix


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--weeks", type=int, default=8)
    ap.add_argument("--mode", choices=["predict", "full"], default="predict")
    ap.add_argument("--out", type=Path, default=Path("bench/signals/data"))
    args = ap.parse_args()
    n_events, n_pos, mix = generate(args.subjects, args.seed, args.weeks, args.mode, args.out)
    print(f"{args.subjects} subjects ({n_pos} bought), {n_events} events -> {args.out}/events.jsonl, labels.csv")
    print("personas: " + ", ".join(f"{k} {v}" for k, v in mix.items()))


if __name__ == "__main__":
    main()
