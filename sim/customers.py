"""The customer population as a struct of arrays, stepped without per-customer loops.

A customer holds, towards its current firm: an *expectation* of service, a *memory*
of experiences (a recency trace plus remembered best and worst moments, all
fading), an emotional *bond* and *trust*, a tariff, and what it has *heard* about
every firm. Two attitudes sit on top: the rational value judgement (does my firm
beat the best alternative on quality for price?) and the bond (devotion). The
ladder state is read off them each week by ``classify``.

Index ``F`` (the number of firms) stands for "no firm", both in ``firm`` and in
the per-firm arrays of ``Offer``, so gathers need no masking.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from scipy.sparse import csr_matrix

from .config import Customers as CustomersConfig
from .config import Market as MarketConfig
from .network import SocialNetwork
from .streams import Streams

f32 = np.float32


def keep_freed_memory() -> None:
    """Let glibc reuse freed large blocks instead of returning them to the OS.

    A week makes hundreds of population-sized temporaries; fresh pages for each cost
    more than the arithmetic (page faults), so freed blocks are kept for reuse.
    Peak memory is unchanged. A no-op where glibc is absent.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


keep_freed_memory()


class Ladder(IntEnum):
    """Where a customer stands with a firm."""

    PROSPECT = 0  # buys from no firm and holds no grudge
    CUSTOMER = 1  # buys; merely satisfied: neither rationally nor emotionally held
    LOYAL = 2  # buys; its firm beats the alternatives on value by a margin (logic)
    DEVOTED = 3  # buys; a strong emotional bond (emotion)
    DETRACTOR = 4  # buys, but remembers bad experiences; talks against the firm
    DEFECTED = 5  # left a firm unhappy and still holds a grudge against it


class Complaint(IntEnum):
    """What became of a customer's complaint this week."""

    NONE = 0  # no complaint voiced
    HANDLED = 1  # voiced and acted on by the firm
    IGNORED = 2  # voiced and ignored


class Channel(IntEnum):
    """How a new customer was acquired."""

    ADVERTISING = 0
    REFERRAL = 1
    DISCOUNT = 2
    ORGANIC = 3


@dataclass
class Offer:
    """What each firm offers this week; arrays of length F + 1, the last for "no firm"."""

    available: np.ndarray  # bool: the firm is in the market
    price: np.ndarray
    service: np.ndarray  # service level in [0, 1], after outages
    speed: np.ndarray
    humanity: np.ndarray
    generosity: np.ndarray
    advice: np.ndarray
    upsell: np.ndarray
    discount: np.ndarray
    advertising: np.ndarray
    listening: np.ndarray
    claims: np.ndarray
    acts: np.ndarray  # how customer-centric the firm's acts are, to compare with claims
    incident_multiplier: np.ndarray
    price_sensitivity: float = 1.0  # market-wide multiplier (recessions)
    reach: float = 0.0  # chance a word of mouth is broadcast

    @property
    def n_firms(self) -> int:
        return len(self.price) - 1


@dataclass
class Tally:
    """What happened this week, per firm (arrays of length F)."""

    n_firms: int
    counts: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, name: str, idx: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Count (or sum ``weights``) by firm index; entries for "no firm" are dropped."""
        c = np.bincount(idx, weights=weights, minlength=self.n_firms + 1)[: self.n_firms]
        self.counts[name] = self.counts.get(name, 0) + c

    def count(self, name: str, firm: int | None, weight: float = 1.0) -> None:
        """Count one event (or add ``weight``) for one firm; ``None`` (no firm) is dropped."""
        counts = self.counts.setdefault(name, np.zeros(self.n_firms))
        if firm is not None:
            counts[firm] += float(weight)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.counts.get(name, np.zeros(self.n_firms))


def relative_prices(offer: Offer, j: int, reference_price: float) -> tuple[np.float32, np.float32]:
    """Firm ``j``'s price relative to the reference: to its customers (per unit tariff), to newcomers."""
    return f32(offer.price[j] / reference_price), f32(offer.price[j] * (1 - offer.discount[j]) / reference_price)


def draw_tastes(cfg: CustomersConfig, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Tastes of ``k`` new customers: the tariff that fits them and their price sensitivity."""
    fit = rng.uniform(cfg.fit_tariff_min, 1.0, k).astype(f32)
    s = cfg.price_sensitivity_spread
    sensitivity = (cfg.price_sensitivity * np.exp(s * rng.standard_normal(k) - s * s / 2)).astype(f32)
    return fit, sensitivity


def draw_population(
    cfg: CustomersConfig, n_firms: int, initial_weights: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The starting population, shared by both engines: who buys where, since when, how bonded, tastes.

    ``firm`` is ``n_firms`` for a customer who buys nothing yet.
    """
    n = cfg.n
    weights = np.asarray(initial_weights, dtype=float)
    buys = rng.random(n) < cfg.initial_penetration
    pick = rng.choice(n_firms, size=n, p=weights / weights.sum())
    firm = np.where(buys, pick, n_firms).astype(np.int16)
    tenure = np.where(buys, rng.integers(0, 260, n), 0).astype(np.int32)
    bond = np.clip(np.where(buys, rng.random(n) * 2 * cfg.initial_bond, 0), 0, 1).astype(f32)
    fit, sensitivity = draw_tastes(cfg, rng, n)
    return {"firm": firm, "tenure": tenure, "bond": bond, "fit": fit, "price_sensitivity": sensitivity}


class Customers:
    """All customers, as arrays indexed by customer."""

    def __init__(
        self,
        cfg: CustomersConfig,
        market: MarketConfig,
        n_firms: int,
        initial_weights: np.ndarray,
        service: np.ndarray,
        streams: Streams,
    ):
        self.cfg, self.market, self.F = cfg, market, n_firms
        self.n = cfg.n
        start = draw_population(cfg, n_firms, initial_weights, streams.init)
        self.firm, self.tenure, self.bond = start["firm"], start["tenure"], start["bond"]
        self.fit, self.price_sensitivity = start["fit"], start["price_sensitivity"]
        n = self.n
        self.expectation = np.asarray(service, dtype=f32)[self.firm]
        self.recent = np.zeros(n, f32)
        self.peak_pos = np.zeros(n, f32)
        self.peak_neg = np.zeros(n, f32)
        self.trust = np.full(n, cfg.trust_initial, f32)
        self.tariff = np.ones(n, f32)
        self.discount_left = np.zeros(n, np.int16)
        self.grudge_firm = np.full(n, n_firms, np.int16)
        self.grudge = np.zeros(n, f32)
        self.heard = np.zeros((n, n_firms), f32)  # net word of mouth heard about each firm
        self.state = np.full(n, Ladder.PROSPECT, np.int8)
        self.value_margin = np.zeros(n, f32)
        self.feeling = np.zeros(n, f32)  # this week's felt experience (0 without incident)
        # Observations of this week, kept for analysis: who spoke, what became of complaints.
        self.spoke = np.zeros(n, bool)
        self.spoke_feeling = np.zeros(n, f32)  # remembered experience of each customer when the talking was done
        self.complaint = np.zeros(n, np.int8)
        self.joined_week = np.where(self.firm < n_firms, -self.tenure, -1).astype(np.int32)
        self.week = 0
        self.referred = np.full(n, n_firms, np.int16)  # firm last recommended to me this week
        self.alarmed = np.zeros(n, bool)  # heard criticism of my own firm this week
        self._ties = None  # the network's adjacency as a sparse matrix, built on first use

    # ---------------------------------------------------------------- derived
    @property
    def remembered(self) -> np.ndarray:
        """Remembered experience: recency trace plus weighted peaks (peak-end)."""
        return self.recent + self.cfg.peak_weight * (self.peak_pos + self.peak_neg)

    @property
    def has_firm(self) -> np.ndarray:
        return self.firm < self.F

    def counts_by_state(self) -> np.ndarray:
        """(F, len(Ladder)) counts of current customers by state; defected by the firm they left."""
        where = np.where(self.state == Ladder.DEFECTED, self.grudge_firm, self.firm).astype(np.int64)
        k = len(Ladder)
        out = np.bincount(where * k + self.state, minlength=(self.F + 1) * k).reshape(self.F + 1, k)
        return out[: self.F]

    # ------------------------------------------------------------- behaviours
    def step(self, week: int, offer: Offer, net: SocialNetwork, streams: Streams) -> Tally:
        """One week in the life of every customer."""
        self.week = week
        tally = Tally(self.F)
        self.turn_over(streams, tally)
        self.fade()
        self.experience_service(offer, streams, tally)
        self.receive_offers(offer, streams, tally)
        self.classify(offer)
        self.spread_word_of_mouth(offer, net, streams, tally)
        self.bond_with_community(net)
        self.choose_suppliers(offer, streams, tally)
        self.classify(offer)
        self.pay(offer, tally)
        return tally

    def turn_over(self, streams: Streams, tally: Tally) -> None:
        """Life events: some customers leave the market; newcomer prospects take their place."""
        c, rng = self.cfg, streams.turnover
        idx = np.flatnonzero(rng.random(self.n, dtype=f32) < c.turnover)
        tally.add("departures", self.firm[idx])
        self.firm[idx] = self.F
        self.state[idx] = Ladder.PROSPECT
        self.grudge_firm[idx] = self.F
        for arr in (
            self.tenure,
            self.recent,
            self.peak_pos,
            self.peak_neg,
            self.bond,
            self.grudge,
            self.discount_left,
            self.value_margin,
            self.feeling,
        ):
            arr[idx] = 0
        self.heard[idx] = 0
        self.trust[idx] = c.trust_initial
        self.tariff[idx] = 1
        self.joined_week[idx] = -1
        self.fit[idx], self.price_sensitivity[idx] = draw_tastes(c, rng, len(idx))

    def fade(self) -> None:
        """Memories, bonds, what was heard and grudges fade without renewal."""
        c, m = self.cfg, self.market
        self.recent *= f32(1 - c.memory_decay)
        self.peak_pos *= f32(1 - c.peak_decay)
        self.peak_neg *= f32(1 - c.peak_decay)
        self.bond *= f32(1 - c.bond_decay)
        self.heard *= f32(1 - m.wom_decay)
        self.grudge *= f32(1 - c.grudge_decay)
        self.grudge[self.grudge < 0.02] = 0
        self.trust += f32(c.trust_recovery) * (f32(c.trust_initial) - self.trust)
        self.tenure += self.has_firm
        np.maximum(self.discount_left - 1, 0, out=self.discount_left)

    def _remember(self, idx: np.ndarray, feeling: np.ndarray, surprised: np.ndarray | bool = True) -> None:
        """Recency trace for every feeling; surprises also become remembered peaks."""
        lr = f32(self.cfg.memory_learning)
        self.recent[idx] += lr * (feeling - self.recent[idx])
        peak = np.where(surprised, feeling, 0).astype(f32)
        self.peak_pos[idx] = np.maximum(self.peak_pos[idx], peak)
        self.peak_neg[idx] = np.minimum(self.peak_neg[idx], peak)

    def _be_grateful(self, idx: np.ndarray) -> None:
        """Reciprocity: an unasked gift raises the bond, more so where trust is high."""
        c = self.cfg
        self.bond[idx] += f32(c.gratitude) * self.trust[idx] * (1 - self.bond[idx])
        self.trust[idx] = np.minimum(self.trust[idx] + f32(c.gift_trust), 1)

    def experience_service(self, offer: Offer, streams: Streams, tally: Tally) -> None:
        """Incidents arrive; handling, gifts and complaints turn them into feelings."""
        c, m = self.cfg, self.market
        firm = self.firm
        u = streams.incidents.random(self.n, dtype=f32)
        rate = np.minimum(f32(c.incident_rate) * offer.incident_multiplier.astype(f32)[firm], 1)
        idx = np.flatnonzero((u < rate) & self.has_firm)
        f = firm[idx].astype(np.int64)
        x = offer.service.astype(f32)[f] + f32(c.experience_noise) * streams.experience.standard_normal(
            len(idx), dtype=f32
        )
        gift = streams.gifts.random(len(idx), dtype=f32) < offer.generosity[f]
        x = x + f32(m.gift_value) * gift
        # Disconfirmation: experience against expectation, losses loom larger, surprises amplify.
        d = x - self.expectation[idx]
        v = np.where(d >= 0, d, f32(c.loss_aversion) * d)
        surprised = np.abs(d) > c.surprise_threshold
        v = np.where(surprised, f32(c.surprise_gain) * v, v)
        bond = self.bond[idx]
        v = np.where(v < 0, v * (1 - f32(c.forgiveness) * bond), v)  # devotion forgives
        # Voice before exit: bonded customers speak up; a listening firm makes it right.
        hurt = v < c.complaint_threshold
        uc = streams.complaints.random((len(idx), 2), dtype=f32)  # two dice per customer, in customer order
        voiced = hurt & (uc[:, 0] < np.minimum(f32(c.voice) * (0.5 + bond), 1))
        handled = voiced & (uc[:, 1] < offer.listening[f])
        v = v + np.where(handled, f32(c.recovery_gain) * offer.speed.astype(f32)[f], 0)
        v = v - np.where(voiced & ~handled, f32(c.ignored_penalty), 0)
        # Claims above acts are seen through, a little at every contact.
        gap = np.maximum(offer.claims - offer.acts, 0).astype(f32)[f]
        detected = streams.detection.random(len(idx), dtype=f32) < f32(c.detection_rate) * gap
        self.trust[idx] = np.maximum(self.trust[idx] - f32(c.detection_trust_loss) * detected, 0)
        self.bond[idx] -= f32(c.detection_bond_loss) * detected
        # Feelings move the bond (through a human touch), memory and expectation.
        human = offer.humanity.astype(f32)[f]
        self.bond[idx] += f32(c.delight_bond) * human * np.maximum(v, 0) - f32(c.frustration_bond) * np.maximum(-v, 0)
        self._be_grateful(idx[gift])
        self._remember(idx, v, surprised | gift | voiced)
        self.expectation[idx] += f32(c.expectation_adaptation) * (x - self.expectation[idx])
        np.clip(self.bond, 0, 1, out=self.bond)
        self.feeling[:] = 0
        self.feeling[idx] = v
        self.complaint[:] = Complaint.NONE
        self.complaint[idx[handled]] = Complaint.HANDLED
        self.complaint[idx[voiced & ~handled]] = Complaint.IGNORED
        tally.add("incidents", f)
        tally.add("experience_sum", f, x)
        tally.add("free_fixes", f[gift])
        tally.add("complaints", f[voiced])
        tally.add("complaints_handled", f[handled])
        tally.add("detections", f[detected])
        # Promises pull every customer's expectation towards the firm's claims.
        pull = f32(self.cfg.promise_pull) * (offer.claims.astype(f32)[firm] - self.expectation)
        self.expectation += pull * self.has_firm

    def receive_offers(self, offer: Offer, streams: Streams, tally: Tally) -> None:
        """Giving: advice of a cheaper tariff. Taking: upsell contacts."""
        m = self.market
        firm = self.firm
        u = streams.offers.random((self.n, 3), dtype=f32).T  # three dice per customer, in customer order
        overpaying = self.has_firm & (self.tariff > self.fit + 1e-3)
        advised = np.flatnonzero(overpaying & (u[0] < f32(m.advice_contact) * offer.advice.astype(f32)[firm]))
        tally.add("advice", firm[advised], self.tariff[advised] - self.fit[advised])
        self.tariff[advised] = self.fit[advised]
        self._be_grateful(advised)
        self._remember(advised, np.full(len(advised), f32(m.gift_value * self.cfg.surprise_gain)))
        contacted = np.flatnonzero(self.has_firm & (u[1] < f32(m.upsell_contact) * offer.upsell.astype(f32)[firm]))
        accepted = contacted[u[2][contacted] < m.upsell_accept]
        self.trust[contacted] = np.maximum(self.trust[contacted] - f32(self.cfg.upsell_trust_loss), 0)
        self._remember(contacted, np.full(len(contacted), -f32(m.upsell_annoyance)))
        self.tariff[accepted] = np.minimum(self.tariff[accepted] + f32(m.upsell_step), 2)
        tally.add("upsell_contacts", firm[contacted])
        tally.add("upsells", firm[accepted])
        np.clip(self.bond, 0, 1, out=self.bond)

    def perceived(self, idx: np.ndarray, offer: Offer) -> tuple[np.ndarray, np.ndarray]:
        """Rational and full utilities (len(idx), F + 1) of each firm and of buying nothing.

        Rational: quality for price, as the customer perceives them. Full adds the
        bond, trust and the cost of switching: what the customer acts on.
        """
        c, m, F = self.cfg, self.market, self.F
        own = self.firm[idx]
        has = own < F
        ps = self.price_sensitivity[idx] * f32(offer.price_sensitivity)
        heard = self.heard[idx]
        remembered = self.remembered[idx]
        bond, trust = self.bond[idx], self.trust[idx]
        rational = np.empty((len(idx), F + 1), f32)
        full = np.empty((len(idx), F + 1), f32)
        for j in range(F):
            list_price, deal_price = relative_prices(offer, j, m.reference_price)
            mine = own == j
            tried = self.expectation[idx] + f32(c.memory_weight) * remembered
            untried = f32(m.prior_quality + m.ad_claim_weight * offer.claims[j])
            q = np.where(mine, tried, untried) + heard[:, j]
            q -= np.where(self.grudge_firm[idx] == j, self.grudge[idx], 0)
            price = np.where(mine, list_price * self.tariff[idx], deal_price)
            tolerance = np.where(mine, 1 - f32(c.bond_price_tolerance) * bond, 1)
            rational[:, j] = f32(c.quality_weight) * q - ps * price
            full[:, j] = (
                f32(c.quality_weight) * q
                - ps * tolerance * price
                + np.where(mine, f32(c.bond_weight) * bond + f32(c.trust_weight) * (trust - f32(c.trust_initial)), 0)
                - np.where(has & ~mine, f32(m.switching_cost), 0)
            )
            if not offer.available[j]:
                rational[:, j] = -np.inf
                full[:, j] = -np.inf
        rational[:, F] = m.outside_utility
        full[:, F] = m.outside_utility - np.where(has, f32(m.switching_cost), 0)
        return rational, full

    def value_margin_of(self, offer: Offer, remembered: np.ndarray) -> np.ndarray:
        """Rational value of one's own firm minus that of the best alternative (buying nothing included).

        The same arithmetic as ``perceived``'s rational utilities, over the whole population
        at once; entries of customers without a firm are meaningless. Masks enter as
        multiplications (exact: x * 1 = x, x + 0 = x), which are far cheaper than ``np.where``.
        """
        c, m, F, n = self.cfg, self.market, self.F, self.n
        ps = self.price_sensitivity * f32(offer.price_sensitivity)
        qw = f32(c.quality_weight)
        best_other = np.full(n, m.outside_utility, f32)
        heard_mine = np.zeros(n, f32)  # what I heard of my own firm, and its price to me
        price_mine = np.zeros(n, f32)
        for j in range(F):
            at_j = self.firm == j
            heard = self.heard[:, j]
            list_price, deal_price = relative_prices(offer, j, m.reference_price)
            heard_mine += heard * at_j
            price_mine += list_price * at_j
            if not offer.available[j]:  # no one buys from a firm before it enters
                continue
            q = f32(m.prior_quality + m.ad_claim_weight * offer.claims[j]) + heard
            grudge = np.flatnonzero(self.grudge_firm == j)
            q[grudge] -= self.grudge[grudge]
            other = qw * q
            other -= ps * deal_price
            other -= at_j * f32(1e30)  # one's own firm is no alternative
            np.maximum(best_other, other, out=best_other)
        # One's own firm: known from experience, at one's own tariff.
        q = self.expectation + f32(c.memory_weight) * remembered + heard_mine
        q -= self.grudge * (self.grudge_firm == self.firm)
        mine = qw * q - ps * (price_mine * self.tariff)
        return mine - best_other

    def classify(self, offer: Offer) -> None:
        """Read the ladder state off the two attitudes and the memory."""
        c, L = self.cfg, Ladder
        has = self.has_firm
        remembered = self.remembered
        self.value_margin = self.value_margin_of(offer, remembered) * has
        # Later rules override earlier ones: loyal by value, devoted by bond, detractor by memory.
        s = L.CUSTOMER + (self.value_margin >= c.loyal_margin).astype(np.int8) * np.int8(L.LOYAL - L.CUSTOMER)
        s += (self.bond >= c.devoted_bond) * (L.DEVOTED - s)
        s += (remembered < c.detractor_memory) * (L.DETRACTOR - s)
        outside = (self.grudge > 0).astype(np.int8) * np.int8(L.DEFECTED)  # else PROSPECT (0)
        self.state = (s * has + outside * ~has).astype(np.int8)

    def spread_word_of_mouth(self, offer: Offer, net: SocialNetwork, streams: Streams, tally: Tally) -> None:
        """Customers talk to a tie (and sometimes to the world); devoted ones defend."""
        c, m, F = self.cfg, self.market, self.F
        rng = streams.wom
        st = self.state
        chance = np.zeros(len(Ladder), f32)
        chance[[Ladder.DEVOTED, Ladder.LOYAL, Ladder.CUSTOMER, Ladder.DETRACTOR]] = (
            c.talk_devoted,
            c.talk_loyal,
            c.talk_customer,
            c.talk_detractor,
        )
        p_state = chance[st]
        defected = st == Ladder.DEFECTED
        p_state[defected] = f32(c.talk_defected) * self.grudge[defected]
        strong = np.abs(self.feeling) > c.talk_threshold
        p_event = np.where(strong, f32(c.talk_event), 0)
        u = rng.random((self.n, 3), dtype=f32).T  # three dice per customer, in customer order
        talks = u[0] < p_event + (1 - p_event) * p_state
        speakers = np.flatnonzero(talks)
        event = u[0][speakers] < p_event[speakers]
        about = np.where(defected[speakers], self.grudge_firm[speakers], self.firm[speakers]).astype(np.int64)
        sign_state = np.where(
            np.isin(st[speakers], (Ladder.DEVOTED, Ladder.LOYAL)),
            1,
            np.where(
                np.isin(st[speakers], (Ladder.DETRACTOR, Ladder.DEFECTED)), -1, np.sign(self.remembered[speakers])
            ),
        )
        sign = np.where(event, np.sign(self.feeling[speakers]), sign_state).astype(np.int8)
        keep = (sign != 0) & (about < F)
        speakers, about, sign = speakers[keep], about[keep], sign[keep]
        self.spoke[:] = False
        self.spoke[speakers] = True
        self.spoke_feeling[:] = self.remembered
        tally.add("wom_positive", about[sign > 0])
        tally.add("wom_negative", about[sign < 0])
        # Deliver: one tie each, plus a broadcast with probability ``reach``.
        to_tie = net.random_neighbour(speakers, u[1][speakers])
        bcast = np.flatnonzero(u[2][speakers] < offer.reach)
        k = self.market.broadcast_size
        to_world = (streams.broadcast.random((len(bcast), k)) * self.n).astype(np.int64).ravel()
        rec = np.concatenate([to_tie, to_world])
        frm = np.concatenate([speakers, np.repeat(speakers[bcast], k)])
        fir = np.concatenate([about, np.repeat(about[bcast], k)])
        sgn = np.concatenate([sign, np.repeat(sign[bcast], k)])
        ok = (rec >= 0) & (rec != frm)
        rec, frm, fir, sgn = rec[ok], frm[ok], fir[ok], sgn[ok]
        # Devoted customers shrug off criticism of their firm and answer back.
        defended = (sgn < 0) & (self.firm[rec] == fir) & (self.state[rec] == Ladder.DEVOTED)
        tally.add("defenses", fir[defended])
        tally.add("wom_positive", fir[defended])
        rec = np.concatenate([rec[~defended], frm[defended]])
        fir = np.concatenate([fir[~defended], fir[defended]])
        sgn = np.concatenate([sgn[~defended], np.ones(defended.sum(), np.int8)])
        # What each listener heard this week, counted so that the order of delivery does not matter.
        listeners, at = np.unique(rec, return_inverse=True)
        pos = sgn > 0
        k = len(listeners)
        praise = np.bincount(at[pos] * F + fir[pos], minlength=k * F).reshape(k, F)
        criticism = np.bincount(at[~pos] * F + fir[~pos], minlength=k * F).reshape(k, F)
        self.heard[listeners] += praise.astype(f32) * f32(m.wom_weight) - criticism.astype(f32) * f32(
            m.wom_weight * m.negativity
        )
        # Referrals (the firm most recommended to me) and alarms, kept for this week's choices.
        self.referred = np.full(self.n, F, np.int16)
        praised = praise.max(axis=1) > 0
        self.referred[listeners[praised]] = praise[praised].argmax(axis=1)
        own = self.firm[listeners].astype(np.int64)
        buyer = own < F
        self.alarmed = np.zeros(self.n, bool)
        self.alarmed[listeners[buyer][criticism[buyer, own[buyer]] > 0]] = True

    def bond_with_community(self, net: SocialNetwork) -> None:
        """Devoted neighbours at the same firm strengthen one's own bond (community)."""
        c, F = self.cfg, self.F
        if c.community_bond == 0:
            return
        devoted_at = np.where(self.state == Ladder.DEVOTED, self.firm, F + 1)
        if net.mixed:
            share = np.bincount(devoted_at, minlength=F + 2)[:F] / self.n
            community = np.append(share, 0)[np.minimum(self.firm, F)]
        elif len(net.indices):
            # Devoted ties at each firm, by sparse products over the ties (float32 counts are exact).
            if self._ties is None:
                ones = np.ones(len(net.indices), f32)
                self._ties = csr_matrix((ones, net.indices, net.indptr), shape=(self.n, self.n))
            community = np.zeros(self.n)
            for j in range(F):
                at_j = np.flatnonzero(self.firm == j)
                community[at_j] = (self._ties @ (devoted_at == j).astype(f32))[at_j]
            community /= np.maximum(net.degree, 1)
        else:
            return
        self.bond += (f32(c.community_bond) * community).astype(f32)
        np.clip(self.bond, 0, 1, out=self.bond)

    def choose_suppliers(self, offer: Offer, streams: Streams, tally: Tally) -> None:
        """Some reconsider; they pick by logit among available firms and buying nothing."""
        c, m, F = self.cfg, self.market, self.F
        n = self.n
        has = self.has_firm
        # Ads: at most one per customer per week, from a firm drawn by ad weight.
        ads = np.where(offer.available[:F], offer.advertising[:F], 0)
        u_ad = streams.advertising.random((n, 2), dtype=f32).T  # two dice per customer, in customer order
        total = ads.sum()
        saw = u_ad[0] < min(1.0, m.ad_reach * total)
        ad_firm = np.full(n, F, np.int16)
        if total > 0:
            ad_firm[saw] = np.searchsorted(np.cumsum(ads) / total, u_ad[1][saw], side="right").clip(0, F - 1)
        rival_ad = (ad_firm < F) & (ad_firm != self.firm)
        hazard = np.where(
            has,
            c.review_rate
            + c.dissatisfied_review * np.maximum(-self.remembered, 0)
            + c.negative_wom_review * self.alarmed
            + c.ad_prompt * rival_ad,
            c.prospect_consider + c.ad_prompt * (ad_firm < F) + c.referral_uptake * (self.referred < F),
        )
        looking = np.flatnonzero(streams.review.random(n, dtype=f32) < hazard)
        _, full = self.perceived(looking, offer)
        gumbel = -np.log(-np.log(streams.choice.random(full.shape) + 1e-12) + 1e-12)
        chosen = np.argmax(full + gumbel, axis=1).astype(np.int16)
        old = self.firm[looking]
        moved = chosen != old
        who, frm, to = looking[moved], old[moved].astype(np.int64), chosen[moved].astype(np.int64)
        # Leavers: an unhappy leaver keeps a grudge against the firm.
        leaving = frm < F
        tally.add("defections", frm[leaving])
        tally.add("switches", frm[leaving & (to < F)])
        unhappy = leaving & (self.remembered[who] < 0)
        u_who = who[unhappy]
        self.grudge_firm[u_who] = frm[unhappy]
        self.grudge[u_who] = np.minimum(-self.remembered[u_who], 1)
        # Joiners: acquisition channel, then a fresh relationship.
        joining = to < F
        jw, jf = who[joining], to[joining]
        channel = np.full(len(jw), Channel.ORGANIC, np.int8)
        channel[ad_firm[jw] == jf] = Channel.ADVERTISING
        channel[offer.discount[jf] > 0] = Channel.DISCOUNT
        channel[self.referred[jw] == jf] = Channel.REFERRAL
        for ch in Channel:
            tally.add(f"acquired_{ch.name.lower()}", jf[channel == ch])
        believed = f32(m.prior_quality) + f32(m.ad_claim_weight) * offer.claims[jf].astype(f32) + self.heard[jw, jf]
        self.expectation[jw] = np.clip(believed, 0, 1)
        for arr in (self.recent, self.peak_pos, self.peak_neg, self.bond):
            arr[jw] = 0
        self.trust[jw] = self.cfg.trust_initial
        self.tariff[jw] = 1
        self.tenure[jw] = 0
        self.joined_week[jw] = self.week
        self.discount_left[jw] = np.where(offer.discount[jf] > 0, m.discount_weeks, 0)
        self.firm[who] = to.astype(np.int16)

    def pay(self, offer: Offer, tally: Tally) -> None:
        """Customers pay their tariff at the firm's price, less any running discount."""
        firm = self.firm
        on_discount = self.discount_left > 0
        price = offer.price.astype(f32)[firm] * self.tariff
        d = np.flatnonzero(on_discount)
        discount = offer.discount.astype(f32)[firm[d]]
        tally.add("discount_given", firm[d], price[d] * discount)
        price[d] = price[d] * (1 - discount)
        tally.add("revenue", firm, price)
        tally.add("customers", firm)
        tally.add("bond_sum", firm, self.bond)
        tally.add("trust_sum", firm, self.trust)
        tally.add("tariff_sum", firm, self.tariff)
