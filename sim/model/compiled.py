"""The customer population, compiled: the week's rules as Numba kernels over the declared state arrays.

``engine=compiled``. The state is ``sim.model.state``'s, as arrays (as in ``sim.model.customers``); the
rules are those of ``sim.model.customers`` (and, per person, ``sim.model.agents``), written once more as
loops over customers, with every operation in the number type the numpy engine uses (float32 state,
float64 where numpy promotes), so the three engines give the same numbers, bit for bit
(``tests/test_docking.py``). A behaviour keeps its name: ``forgive``, ``be_grateful``, ``remember``,
``experience_service``, ``receive_offers``, ``classify``, ``decide_to_talk``, ``vent``, ``spread_word_of_mouth``,
``hear``, ``bond_with_community``, ``choose_supplier``, ``pay``.

What makes it fast: a week is four passes over the customers (``foresee_incidents``, ``live_the_week``,
``look_around``, ``end_week``) and a few over those who talk, look or pay, instead of many numpy passes and
temporaries; dice are rolled for a whole chunk in loops the compiler turns into vector instructions; what a
pass can know without looking is not looked at again (the value margin of a customer who neither heard word of
mouth nor moved is the one computed earlier that week; each customer's devoted ties per firm are kept up to date
by the few whose devotion changed); and the passes run on all cores. The kernels take the arrays bundled as
``People`` and index customers with unsigned numbers (no wraparound test at each access), and run without
Numba's reference counting (``_nrt=False``: nothing is allocated inside, and passing the bundle to the rules
would otherwise count references to every array at every call).

What keeps it exact and deterministic:

- Customers are split into fixed chunks of ``CHUNK``; threads take whole chunks, whatever their number.
  Events (who leaves, who has an incident, who talks, ...) are listed per chunk and read in chunk order,
  which is customer order. Counts are integers, summed over chunks.
- Sums of money, bond, trust and tariff (float64, as ``np.bincount`` sums them) are added one customer after
  another, in customer order: ``end_week`` lists each firm's paying customers per chunk, and ``sum_payments``
  adds each firm's list in order, its sums kept in registers (two threads: one the revenue, one the rest).
- Word of mouth is addressed in parallel by chunks of words (``spread_word_of_mouth``, each word to its place
  in one list), then each thread takes the words its customers hear (``hear``), counted per listener as
  integers and taken in afterwards, so the order of delivery does not matter (as in the numpy engine).
- The transcendental functions stay numpy's and scipy's, called from Python as the numpy engine calls
  them: normals for the experience noise (``Dice.normal``), the Gumbel noise of the logit choice
  (``np.log``), and the traits of newcomers (``draw_traits``). Elementwise, so they may run in parts.
"""

from __future__ import annotations

import os
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from enum import IntEnum

import numba
import numpy as np
from numba import literal_unroll, njit

from ..config import LEVERS, CustomersConfig, MarketConfig
from .draws import Decision, _mix, die32, die64
from .network import SocialNetwork
from .state import (
    FRESH_ON_JOINING,
    FRESH_ON_LEAVING,
    FRESH_ON_QUITTING,
    STATE,
    draw_start,
    draw_traits,
    fresh_arrays,
    fresh_value,
)
from .streams import Streams
from .vocabulary import BY_SEGMENT, OFFER_EXTRAS, Complaint, Count, Ladder, Offer, Tally

f32 = np.float32
ZERO, ONE, TWO = f32(0), f32(1), f32(2)
CHUNK = 8192  # customers (or events) per chunk: the unit of parallel work, fixed so results never depend on threads
CHUNKS_PER_THREAD = 4  # a smaller population runs on fewer threads: waking a thread costs more than its share
IN_PARTS_FROM = 2 * CHUNK  # numpy's and scipy's functions of fewer values run in one go

# The declared state of every customer, one array per variable, as one argument of the kernels: ``p.bond[i]``.
People = namedtuple("People", [v.name for v in STATE])

# This week's offer as a record per firm (index F: no firm): ``offer[f].service``; and the terms every customer
# computes alike from it, once per week: prices relative to the reference (to the firm's customers, per unit
# tariff, and to newcomers), the price factor of a running discount, the perceived quality of an untried firm,
# the weekly chances of a service incident, of advice (to an overpaying customer) and of an upsell contact.
OFFER = np.dtype(
    [
        *((name, np.float64) for name in (*LEVERS, *OFFER_EXTRAS) if name != "available"),
        ("available", bool),
        *((name, np.float32) for name in ("list_price", "deal_price", "kept_price", "untried")),
        *((name, np.float32) for name in ("incident_chance", "advice_chance", "upsell_chance")),
    ]
)


class Roll(IntEnum):
    """The kinds of dice the kernels roll: the rows of this week's keys (``sim.model.draws``)."""

    TURNOVER = 0
    INCIDENTS = 1
    GIFTS = 2
    COMPLAINTS = 3  # voicing, handling
    DETECTION = 4
    OFFERS = 5  # advice, upsell contact, acceptance
    WOM = 6  # talk, tie, broadcast
    VENT = 7  # talk, tie, broadcast
    BROADCAST = 8  # the people a broadcast reaches
    VENT_BROADCAST = 9
    ADVERTISING = 10  # seen, whose
    REVIEW = 11


ROLLED = tuple(Decision[r.name] for r in Roll)


def settings_record(config) -> np.ndarray:
    """A config's numbers as a record, read in kernels as ``cfg.forgiveness`` (floats stay float64, as in Python)."""
    numbers = {
        f.name: getattr(config, f.name) for f in fields(config) if isinstance(getattr(config, f.name), int | float)
    }
    kinds = {
        name: bool if isinstance(v, bool) else np.int64 if isinstance(v, int) else np.float64
        for name, v in numbers.items()
    }
    record = np.zeros(1, np.dtype(list(kinds.items())))
    for name, value in numbers.items():
        record[name] = value
    return record


# ---------------------------------------------------------------------------------------------- a person
@njit(cache=True, _nrt=False)
def renew(fresh, i):
    """Customer ``i`` takes a newcomer's value of each variable in ``fresh``: (array, newcomer's value) pairs."""
    for pair in literal_unroll(fresh):
        pair[0][i] = pair[1]


@njit(cache=True, _nrt=False, inline="always")
def clip01(x):
    return min(max(x, ZERO), ONE)


@njit(cache=True, _nrt=False, inline="always")
def sign_of(x):
    return 1 if x > 0 else -1 if x < 0 else 0


@njit(cache=True, _nrt=False, inline="always")
def remembered(p, i, cfg):
    """Remembered experience: recency trace plus weighted peaks (peak-end)."""
    return p.recent[i] + f32(cfg.peak_weight) * (p.peak_pos[i] + p.peak_neg[i])


@njit(cache=True, _nrt=False, inline="always")
def fade(p, lo, hi, cfg, market):
    """Memories, bonds, what was heard and grudges fade without renewal; trust drifts back to its prior; buyers'
    tenure grows, running discounts count down (customers lo..hi-1, in loops the compiler vectorizes)."""
    n_firms = p.heard.shape[1]
    recent, peak_pos, peak_neg, bond = p.recent[lo:hi], p.peak_pos[lo:hi], p.peak_neg[lo:hi], p.bond[lo:hi]
    for k in range(recent.shape[0]):
        recent[k] *= f32(1 - cfg.memory_decay)
        peak_pos[k] *= f32(1 - cfg.peak_decay)
        peak_neg[k] *= f32(1 - cfg.peak_decay)
        bond[k] *= f32(1 - cfg.bond_decay)
    heard = p.heard.reshape(-1)[lo * n_firms : hi * n_firms]
    for k in range(heard.shape[0]):
        heard[k] *= f32(1 - market.wom_decay)
    grudge, trust = p.grudge[lo:hi], p.trust[lo:hi]
    for k in range(grudge.shape[0]):
        faded = grudge[k] * f32(1 - cfg.grudge_decay)
        grudge[k] = ZERO if faded < f32(0.02) else faded
        trust[k] += f32(cfg.trust_recovery) * (f32(cfg.trust_initial) - trust[k])
    firm, tenure, discount_left = p.firm[lo:hi], p.tenure[lo:hi], p.discount_left[lo:hi]
    for k in range(firm.shape[0]):
        tenure[k] += firm[k] < n_firms
        discount_left[k] = max(discount_left[k] - 1, 0)


@njit(cache=True, _nrt=False, inline="always")
def remember(p, i, feeling, cfg, peak):
    """Every feeling enters the recency trace; a peak (a surprise, a gift, a voiced complaint) is remembered too."""
    p.recent[i] += f32(cfg.memory_learning) * (feeling - p.recent[i])
    if peak:
        p.peak_pos[i] = max(p.peak_pos[i], feeling)
        p.peak_neg[i] = min(p.peak_neg[i], feeling)


@njit(cache=True, _nrt=False, inline="always")
def be_grateful(p, i, cfg):
    """Reciprocity: an unasked gift raises the bond, more so where trust is high."""
    p.bond[i] += f32(cfg.gratitude) * p.bonding[i] * p.trust[i] * (ONE - p.bond[i])
    p.trust[i] = min(p.trust[i] + f32(cfg.gift_trust), ONE)


@njit(cache=True, _nrt=False, inline="always")
def forgive(felt, bond, cfg):
    """Devotion forgives: a bonded customer's bad feeling is damped."""
    if felt < 0:
        return felt * (ONE - f32(cfg.forgiveness) * bond)
    return felt


@njit(cache=True, _nrt=False, inline="always")
def value_margin(p, i, rem, cfg, market, offer, price_sensitivity):
    """Rational value of one's own firm minus that of the best alternative (buying nothing included)."""
    own = p.firm[i]
    sensitivity = p.price_sensitivity[i] * price_sensitivity
    weight = f32(cfg.quality_weight)
    best_other = f32(market.outside_utility)
    for j in range(offer.shape[0] - 1):
        if not offer[j].available:  # no one buys from a firm before it enters
            continue
        quality = offer[j].untried + p.heard[i, j]
        if p.grudge_firm[i] == j:
            quality -= p.grudge[i]
        other = weight * quality
        other -= sensitivity * offer[j].deal_price
        other = other - f32(1e30) if own == j else other  # one's own firm is no alternative
        best_other = max(best_other, other)
    # One's own firm: known from experience, at one's own tariff.
    quality = p.expectation[i] + f32(cfg.memory_weight) * rem + p.heard[i, own]
    if p.grudge_firm[i] == own:
        quality -= p.grudge[i]
    discount = offer[own].kept_price if p.discount_left[i] > 0 else ONE
    mine = weight * quality - sensitivity * (offer[own].list_price * p.tariff[i] * discount)
    return mine - best_other


@njit(cache=True, _nrt=False, inline="always")
def classify(p, i, cfg, market, offer, price_sensitivity, margin_known=False):
    """Read the ladder state off the two attitudes and the memory: loyal by value, devoted by bond, detractor
    by memory (later rules override earlier ones); a non-buyer is defected while holding a grudge.

    ``margin_known``: nothing the value margin depends on has changed since it was last computed (this week,
    for a customer who neither heard word of mouth nor moved); it is the same number, so it is kept."""
    if p.firm[i] < offer.shape[0] - 1:
        rem = remembered(p, i, cfg)
        margin = p.value_margin[i] if margin_known else value_margin(p, i, rem, cfg, market, offer, price_sensitivity)
        state = Ladder.CUSTOMER
        if margin >= f32(cfg.loyal_margin):
            state = Ladder.LOYAL
        if p.bond[i] >= f32(cfg.devoted_bond):
            state = Ladder.DEVOTED
        if rem < f32(cfg.detractor_memory):
            state = Ladder.DETRACTOR
    else:
        margin = ZERO
        state = Ladder.DEFECTED if p.grudge[i] > 0 else Ladder.PROSPECT
    p.value_margin[i] = margin
    p.state[i] = state


@njit(cache=True, _nrt=False, inline="always")
def chunk_span(c, n):
    """Customers lo..hi-1 of chunk c, as unsigned indices: never negative, so no wraparound test at every access."""
    lo = np.uint64(c) * np.uint64(CHUNK)
    return lo, min(lo + np.uint64(CHUNK), np.uint64(n))


@njit(cache=True, _nrt=False, inline="always")
def roll(key, identity, out):
    """Every customer's die of one kind, into ``out[:len(identity)]`` (a loop the compiler turns into vector
    instructions: rolling a die for everyone is cheaper than deciding who needs one)."""
    for k in range(identity.shape[0]):
        out[k] = die32(key, identity[k])


@njit(cache=True, _nrt=False, inline="always")
def experience_service(p, i, noise, cfg, market, offer, keys, counted, c):
    """An incident: the service experienced (``noise``: the customer's standard normal), a gift, a complaint and
    claims seen through turn into a feeling, bond, memory and expectation. Returns the experienced service."""
    f, who, segment = p.firm[i], p.identity[i], p.segment[i]
    x = f32(offer[f].service) + f32(cfg.experience_noise) * noise
    gifted = offer[f].generosity > 0 and die32(keys[Roll.GIFTS, 0], who) < offer[f].generosity
    if gifted:  # a free fix
        x = x + f32(market.gift_value)
    # Disconfirmation: experience against expectation, losses loom larger, surprises amplify.
    disconfirmation = x - p.expectation[i]
    felt = disconfirmation if disconfirmation >= 0 else f32(cfg.loss_aversion) * disconfirmation
    surprised = abs(disconfirmation) > f32(cfg.surprise_threshold)
    if surprised:
        felt = f32(cfg.surprise_gain) * felt
    bond = p.bond[i]
    felt = forgive(felt, bond, cfg)
    # Voice before exit: bonded customers speak up; a listening firm makes it right.
    hurt = felt < f32(cfg.complaint_threshold)
    voiced = handled = False
    if hurt:
        voice = min(f32(cfg.voice) * p.outspokenness[i] * (f32(0.5) + bond), ONE)
        voiced = die32(keys[Roll.COMPLAINTS, 0], who) < voice
        handled = voiced and die32(keys[Roll.COMPLAINTS, 1], who) < offer[f].listening
    if handled:
        felt = felt + f32(cfg.recovery_gain) * f32(offer[f].speed)
    elif voiced:
        felt = felt - f32(cfg.ignored_penalty)
    # Claims above acts are seen through, a little at every contact.
    detection = f32(cfg.detection_rate) * f32(max(offer[f].claims - offer[f].acts, 0.0))
    detected = detection > 0 and die32(keys[Roll.DETECTION, 0], who) < detection
    if detected:
        p.trust[i] = max(p.trust[i] - f32(cfg.detection_trust_loss), ZERO)
        p.bond[i] -= f32(cfg.detection_bond_loss)
    # Feelings move the bond (through a human touch), memory and expectation.
    human = f32(offer[f].humanity)
    delight = f32(cfg.delight_bond) * p.bonding[i] * human * max(felt, ZERO)
    p.bond[i] += delight - f32(cfg.frustration_bond) * max(-felt, ZERO)
    if gifted:
        be_grateful(p, i, cfg)
    remember(p, i, felt, cfg, surprised or gifted or voiced)
    adapted = p.expectation[i] + f32(cfg.expectation_adaptation) * (x - p.expectation[i])
    p.expectation[i] = clip01(adapted)
    p.bond[i] = clip01(p.bond[i])
    p.feeling[i] = felt
    if handled:
        p.complaint[i] = Complaint.HANDLED
    elif voiced:
        p.complaint[i] = Complaint.IGNORED
    elif hurt:
        p.complaint[i] = Complaint.SILENT
    counted[c, Count.INCIDENTS, f, segment] += 1
    counted[c, Count.FREE_FIXES, f, segment] += gifted
    counted[c, Count.PROBLEMS, f, segment] += hurt
    counted[c, Count.COMPLAINTS, f, segment] += voiced
    counted[c, Count.COMPLAINTS_HANDLED, f, segment] += handled
    counted[c, Count.DETECTIONS, f, segment] += detected
    return x


@njit(cache=True, _nrt=False, inline="always")
def receive_offers(p, i, f, u_advice, u_contact, cfg, market, offer, keys, counted, c):
    """Giving: advice of a cheaper tariff (gratitude). Taking: upsell contacts (trust lost, tariff up).

    Returns the weekly revenue given up by advice, or -1 if none was given. (``u_advice``, ``u_contact``: the
    customer's dice, rolled whatever the firm: an unused die changes nothing.)"""
    who, segment = p.identity[i], p.segment[i]
    given_up = f32(-1)
    overpaying = p.tariff[i] > p.fit[i] + f32(1e-3)
    if overpaying & (u_advice < offer[f].advice_chance):
        counted[c, Count.ADVICE_GIVEN, f, segment] += 1
        given_up = f32(offer[f].price) * (p.tariff[i] - p.fit[i])
        p.tariff[i] = p.fit[i]
        be_grateful(p, i, cfg)
        remember(p, i, f32(market.gift_value * cfg.surprise_gain), cfg, True)
        p.bond[i] = clip01(p.bond[i])
    if u_contact < offer[f].upsell_chance:
        counted[c, Count.UPSELL_CONTACTS, f, segment] += 1
        p.trust[i] = max(p.trust[i] - f32(cfg.upsell_trust_loss), ZERO)
        remember(p, i, -f32(market.upsell_annoyance), cfg, True)
        if die32(keys[Roll.OFFERS, 2], who) < f32(market.upsell_accept):
            counted[c, Count.UPSELLS, f, segment] += 1
            p.tariff[i] = min(p.tariff[i] + f32(market.upsell_step), TWO)
    return given_up


@njit(cache=True, _nrt=False, inline="always")
def decide_to_talk(p, i, rem, u, cfg, talk_chance):
    """Whether a buyer talks about the firm this week (``u``: the die), and the sign of the word (0: silent).

    By ladder state (``talk_chance``: per state), or after a strong experience (then the word is about it)."""
    talkative = p.talkativeness[i]
    state_chance = min(talk_chance[p.state[i]] * talkative, ONE)
    strong = abs(p.feeling[i]) > f32(cfg.talk_threshold)
    event_chance = min((f32(cfg.talk_event) if strong else ZERO) * talkative, ONE)
    talks = (u < event_chance + (ONE - event_chance) * state_chance) & (p.firm[i] < p.heard.shape[1])
    if not talks:
        return 0
    if u < event_chance:
        return sign_of(p.feeling[i])
    state = p.state[i]
    if state == Ladder.DEVOTED or state == Ladder.LOYAL:
        return 1
    if state == Ladder.DETRACTOR:
        return -1
    return sign_of(rem)


@njit(cache=True, _nrt=False, inline="always")
def vent(p, i, u, cfg):
    """Whoever left a firm unhappy, buying elsewhere or nowhere, may talk against it (``u``: the die)."""
    chance = f32(cfg.talk_defected) * p.grudge[i] * p.talkativeness[i]
    holds = (p.grudge[i] > 0) & (p.grudge_firm[i] < p.heard.shape[1])
    return holds & (u < chance)


@njit(cache=True, _nrt=False, inline="always")
def utilities(p, i, full, cfg, market, offer, price_sensitivity):
    """Full utility of each firm and of buying nothing (the last entry), into ``full``: quality for price as the
    customer perceives them, plus the bond and trust for one's own firm, less the cost of switching."""
    n_firms, own = offer.shape[0] - 1, p.firm[i]
    has = own < n_firms
    sensitivity = p.price_sensitivity[i] * price_sensitivity
    bond, trust = p.bond[i], p.trust[i]
    tried = p.expectation[i] + f32(cfg.memory_weight) * remembered(p, i, cfg)
    attachment = f32(cfg.bond_weight) * bond + f32(cfg.trust_weight) * (trust - f32(cfg.trust_initial))
    for j in range(n_firms):
        mine = own == j
        if mine:  # what I know from experience, at this week's price (less a running discount)
            quality = tried
            price = offer[j].list_price * p.tariff[i]
            if p.discount_left[i] > 0:
                price = price * offer[j].kept_price
            tolerance = ONE - f32(cfg.bond_price_tolerance) * bond
        else:  # what I believe from its claims, at a newcomer's deal
            quality, price, tolerance = offer[j].untried, offer[j].deal_price, ONE
        quality = quality + p.heard[i, j]
        if p.grudge_firm[i] == j:
            quality -= p.grudge[i]
        switching = f32(market.switching_cost) if has and not mine else ZERO
        full[j] = (
            f32(cfg.quality_weight) * quality
            - sensitivity * tolerance * price
            + (attachment if mine else ZERO)
            - switching
        )
        if not offer[j].available:
            full[j] = -np.inf
    full[n_firms] = f32(market.outside_utility) - (f32(market.switching_cost) if has else ZERO)


@njit(cache=True, _nrt=False, inline="always")
def discount_decided(p, i, joined, full, gumbel, market, offer, price_sensitivity):
    """Would the joiner have chosen otherwise at the firm's list price, with the same random draws?"""
    gap = offer[joined].list_price - offer[joined].deal_price
    sensitivity = p.price_sensitivity[i] * price_sensitivity
    best, best_utility = 0, -np.inf
    for j in range(full.shape[0]):
        # At list price (the discount's worth more) for the firm joined, in float32 as the utilities; the same noise.
        utility = (full[j] - sensitivity * gap) + gumbel[j] if j == joined else full[j] + gumbel[j]
        if utility > best_utility:
            best, best_utility = j, utility
    return best != joined


# ------------------------------------------------------------------------------------------ the week
# Each kernel runs over chunks ``first..last-1`` (``over_chunks`` gives each thread whole chunks); a list of events
# is a (buffer, count per chunk) pair, chunk c's events at ``buffer[c * CHUNK:]`` in customer order.
LEAVES, HIT = 1, 2  # this week's life events of a customer, as flags: leaves the market, has a service incident


@njit(cache=True, nogil=True, _nrt=False)
def foresee_incidents(p, cfg, offer, keys, flags, hits, dice, first, last, worker):
    """Who leaves the market this week, and who has a service incident: buyers who stay and whose die says so (a
    few; their experience noise is drawn by scipy before the week's main pass). ``flags``: LEAVES, HIT."""
    n, n_firms = p.firm.shape[0], offer.shape[0] - 1
    u_turnover, u_incident = dice[worker, 0], dice[worker, 1]
    for c in range(first, last):
        lo, hi = chunk_span(c, n)
        ids, firm, fl = p.identity[lo:hi], p.firm[lo:hi], flags[lo:hi]
        roll(keys[Roll.TURNOVER, 0], ids, u_turnover)
        roll(keys[Roll.INCIDENTS, 0], ids, u_incident)
        for k in range(fl.shape[0]):
            fl[k] = LEAVES if u_turnover[k] < f32(cfg.turnover) else 0
        for j in range(n_firms):  # firm by firm: the same chance for all its customers
            chance = offer[j].incident_chance
            for k in range(fl.shape[0]):
                hit = (firm[k] == j) & (u_incident[k] < chance) & (fl[k] == 0)
                fl[k] |= HIT if hit else 0
        n_hits = 0
        for i in range(lo, hi):
            if flags[i] & HIT:
                hits[0][c * CHUNK + n_hits] = i
                n_hits += 1
        hits[1][c] = n_hits


@njit(cache=True, nogil=True, _nrt=False)
def live_the_week(
    p, cfg, market, offer, price_sensitivity, keys, talk_chance, fresh_on_leaving, flags, hits, noise, experienced,
    given_up, said, devoted_at, was_devoted_at, leavers, advised, speakers, venters, converts, counted, dice,
    first, last, worker,
):  # fmt: skip
    """Every customer's week up to word of mouth: turnover (a newcomer takes the place of one who leaves), fading,
    a service incident (``flags``, ``hits`` from ``foresee_incidents``; ``noise``, ``experienced`` per hit),
    promises and offers, the ladder, and whether one talks about one's firm or vents against a firm one left.
    Lists who left, was advised, talks, vents, and whose devotion (the firm one is devoted to, or -1, in
    ``devoted_at``) changed (``converts``; before: ``was_devoted_at``)."""
    n, n_firms = p.firm.shape[0], offer.shape[0] - 1
    u_advice, u_contact, u_talk, u_vent = dice[worker, 0], dice[worker, 1], dice[worker, 2], dice[worker, 3]
    h = 0
    for c in range(first):
        h += hits[1][c]
    for c in range(first, last):
        lo, hi = chunk_span(c, n)
        base = c * CHUNK  # of the chunk's events in each list
        n_left, n_advised, n_speakers, n_venters, n_converts = 0, 0, 0, 0, 0
        for i in range(lo, hi):  # life events
            if flags[i] & LEAVES:
                if p.firm[i] < n_firms:
                    counted[c, Count.DEPARTURES, p.firm[i], p.segment[i]] += 1
                renew(fresh_on_leaving, i)
                p.identity[i] = _mix(p.identity[i])  # a newcomer: the slot's next identity (traits drawn later)
                leavers[0][base + n_left] = i
                n_left += 1
        fade(p, lo, hi, cfg, market)
        feeling, complaint = p.feeling[lo:hi], p.complaint[lo:hi]
        for k in range(feeling.shape[0]):  # this week's observations start afresh
            feeling[k] = ZERO
            complaint[k] = Complaint.NONE
        ids = p.identity[lo:hi]
        roll(keys[Roll.OFFERS, 0], ids, u_advice)
        roll(keys[Roll.OFFERS, 1], ids, u_contact)
        roll(keys[Roll.WOM, 0], ids, u_talk)
        roll(keys[Roll.VENT, 0], ids, u_vent)
        for i in range(lo, hi):
            k = i - lo
            if flags[i] & HIT:
                experienced[h] = experience_service(p, i, noise[h], cfg, market, offer, keys, counted, c)
                h += 1
            f = p.firm[i]
            if f < n_firms:
                p.expectation[i] += f32(cfg.promise_pull) * (f32(offer[f].claims) - p.expectation[i])  # promises
                given = receive_offers(p, i, f, u_advice[k], u_contact[k], cfg, market, offer, keys, counted, c)
                if given >= 0:
                    given_up[i] = given
                    advised[0][base + n_advised] = i
                    n_advised += 1
            classify(p, i, cfg, market, offer, price_sensitivity)
            devoted = f if p.state[i] == Ladder.DEVOTED else -1
            if devoted != devoted_at[i]:
                was_devoted_at[i] = devoted_at[i]
                devoted_at[i] = devoted
                converts[0][base + n_converts] = i
                n_converts += 1
            rem = remembered(p, i, cfg)
            sign = decide_to_talk(p, i, rem, u_talk[k], cfg, talk_chance)
            said[i] = sign
            if sign != 0:
                counted[c, Count.WOM_POSITIVE if sign > 0 else Count.WOM_NEGATIVE, f, p.segment[i]] += 1
                speakers[0][base + n_speakers] = i
                n_speakers += 1
            venting = vent(p, i, u_vent[k], cfg)
            if venting:
                counted[c, Count.WOM_NEGATIVE, p.grudge_firm[i], p.segment[i]] += 1
                venters[0][base + n_venters] = i
                n_venters += 1
            p.spoke[i] = sign != 0 or venting
            p.spoke_feeling[i] = rem
            p.referred[i] = n_firms  # set again by what is heard this week
            p.alarmed[i] = False
        leavers[1][c] = n_left
        advised[1][c] = n_advised
        speakers[1][c] = n_speakers
        venters[1][c] = n_venters
        converts[1][c] = n_converts


@njit(cache=True, nogil=True, _nrt=False)
def count_devoted_ties(converts, was_devoted_at, devoted_at, indptr, indices, devoted_ties, first, last, worker):
    """Keep ``devoted_ties[i, f]``, the number of i's ties devoted to firm f, up to date: each customer whose
    devotion changed this week tells their ties (a tie is mutual); here only the ties among the customers of
    chunks ``first..last-1`` (each thread goes through every change and keeps its own customers' ties)."""
    lo, hi = first * CHUNK, min(last * CHUNK, devoted_ties.shape[0])
    for k in range(converts.shape[0]):
        d = converts[k]
        before, now = was_devoted_at[d], devoted_at[d]
        for t in range(indptr[d], indptr[d + 1]):
            tie = indices[t]
            if not (lo <= tie < hi):
                continue
            if before >= 0:
                devoted_ties[tie, before] -= 1
            if now >= 0:
                devoted_ties[tie, now] += 1


@njit(cache=True, _nrt=False, inline="always")
def random_tie(s, u, mixed, n, indptr, indices):
    """One of ``s``'s ties, chosen by the float32 die ``u`` (-1 if none); with random mixing, anyone."""
    if mixed:
        return min(np.int64(u * f32(n)), n - 1)
    start = indptr[s]
    degree = indptr[s + 1] - start
    if degree == 0:
        return -1
    return indices[start + min(np.int64(np.float64(u) * np.float64(degree)), degree - 1)]


@njit(cache=True, nogil=True, _nrt=False)
def count_words(p, keys, reach, broadcast_size, speakers, venters, sizes, first, last, worker):
    """How many people each chunk of words (``speakers`` then ``venters``) may reach: a tie, and ``broadcast_size``
    people more for a word broadcast (``sizes[c]``, to place each chunk's words in one list)."""
    m, n_speakers = speakers.shape[0] + venters.shape[0], speakers.shape[0]
    for c in range(first, last):
        total = 0
        for w in range(c * CHUNK, min((c + 1) * CHUNK, m)):
            s, dice = (speakers[w], Roll.WOM) if w < n_speakers else (venters[w - n_speakers], Roll.VENT)
            total += 1 + (broadcast_size if die32(keys[dice, 2], p.identity[s]) < reach else 0)
        sizes[c] = total


@njit(cache=True, _nrt=False, inline="always")
def address(listener, speaker, about, sign, devoted_at, recipient, code, k):
    """A word about a firm is addressed to a listener (-1: nobody); a devoted customer of that firm shrugs off
    criticism and answers back (the speaker hears praise). Word ``k`` of the list: whom it reaches, and its
    ``code``: the firm it is about, whether it is praise, whether it is a defense."""
    defended = sign < 0 and listener >= 0 and devoted_at[listener] == about
    if defended:
        listener, sign = speaker, 1
    recipient[k] = listener
    code[k] = about * 4 + (2 if sign > 0 else 0) + (1 if defended else 0)
    return k + 1


@njit(cache=True, nogil=True, _nrt=False)
def spread_word_of_mouth(
    p, market, keys, reach, speakers, venters, said, mixed, indptr, indices, devoted_at, offsets, recipient, code,
    first, last, worker,
):  # fmt: skip
    """Each word goes to one tie and, with probability ``reach``, to ``broadcast_size`` people drawn at random;
    words to oneself are dropped. Chunk c of the words (``speakers`` then ``venters``) addresses its words from
    ``offsets[c]`` on, in order (``recipient``, ``code``: see ``address``)."""
    n, n_speakers = p.firm.shape[0], speakers.shape[0]
    m = n_speakers + venters.shape[0]
    for c in range(first, last):
        k = offsets[c]
        for w in range(c * CHUNK, min((c + 1) * CHUNK, m)):
            if w < n_speakers:  # talk about one's firm
                s = speakers[w]
                about, sign, dice, broadcast = p.firm[s], said[s], Roll.WOM, Roll.BROADCAST
            else:  # venting against a firm one left unhappy
                s = venters[w - n_speakers]
                about, sign, dice, broadcast = p.grudge_firm[s], -1, Roll.VENT, Roll.VENT_BROADCAST
            who = p.identity[s]
            listener = random_tie(s, die32(keys[dice, 1], who), mixed, n, indptr, indices)
            listener = listener if listener != s else -1
            k = address(listener, s, about, sign, devoted_at, recipient, code, k)
            if die32(keys[dice, 2], who) < reach:
                for b in range(market.broadcast_size):
                    listener = np.int64(die64(keys[broadcast, b], who) * n)
                    k = address(listener if listener != s else -1, s, about, sign, devoted_at, recipient, code, k)


@njit(cache=True, nogil=True, _nrt=False)
def hear(recipient, code, words, listeners, counted, first, last, worker):
    """The words reach their listeners: each thread goes through all addressed words and takes those of the
    customers of its chunks ``first..last-1``, counted per listener (``words[i, 0]``: praise by firm,
    ``words[i, 1]``: criticism), so their order does not matter; it lists its listeners once each (``listeners``,
    as a list of events)."""
    n = words.shape[0]
    lo, hi = first * CHUNK, min(last * CHUNK, n)
    n_listeners = 0
    out = listeners[0][lo:]
    for k in range(recipient.shape[0]):
        listener = recipient[k]
        if not (lo <= listener < hi):  # nobody, or another thread's listener
            continue
        about, praise, defended = code[k] >> 2, (code[k] >> 1) & 1, code[k] & 1
        if defended:
            counted[first, Count.DEFENSES, about, 0] += 1
            counted[first, Count.WOM_POSITIVE, about, 0] += 1
        if words[listener].sum() == 0:  # a first word this week
            out[n_listeners] = listener
            n_listeners += 1
        if praise:
            counted[first, Count.HEARD_POSITIVE, about, 0] += 1
        else:
            counted[first, Count.HEARD_NEGATIVE, about, 0] += 1
        words[listener, 1 - praise, about] += 1
    listeners[1][first:last] = 0
    listeners[1][first] = n_listeners


@njit(cache=True, nogil=True, _nrt=False)
def take_in_word_of_mouth(p, market, listeners, words, changed, first, last, worker):
    """What each listener heard this week joins what they heard before; the most praised firm is a referral,
    criticism of one's own firm an alarm. (``changed``: their value margin is to be computed anew.)"""
    n_firms = p.heard.shape[1]
    m = listeners.shape[0]
    for c in range(first, last):
        for k in range(c * CHUNK, min((c + 1) * CHUNK, m)):
            i = np.uint64(listeners[k])
            praise, criticism = words[i, 0], words[i, 1]
            best = 0
            for j in range(n_firms):
                p.heard[i, j] += f32(praise[j]) * f32(market.wom_weight) - f32(criticism[j]) * f32(
                    market.wom_weight * market.negativity
                )
                if praise[j] > praise[best]:
                    best = j
            if praise[best] > 0:
                p.referred[i] = best
            own = p.firm[i]
            if own < n_firms and criticism[own] > 0:
                p.alarmed[i] = True
            words[i] = 0
            changed[i] = True


@njit(cache=True, _nrt=False, inline="always")
def bond_with_community(p, i, cfg, mixed, devoted, indptr, devoted_ties):
    """Devoted neighbours at the same firm (with random mixing: devoted customers anywhere) strengthen one's bond.

    ``devoted``: devoted customers per firm; ``devoted_ties[i, f]``: i's ties devoted to firm f."""
    f = p.firm[i]
    community = 0.0
    if f < p.heard.shape[1]:
        if mixed:
            community = devoted[f] / p.firm.shape[0]
        else:
            ties = f32(devoted_ties[i, f])
            community = np.float64(ties) / np.float64(max(indptr[i + 1] - indptr[i], 1))
    gain = np.float64(f32(cfg.community_bond)) * community * np.float64(p.bonding[i])
    p.bond[i] = clip01(p.bond[i] + f32(gain))


@njit(cache=True, nogil=True, _nrt=False)
def look_around(
    p, cfg, keys, community, mixed, devoted, indptr, devoted_ties, ad_limit, ad_cumulative, ad_firm, lookers, dice,
    first, last, worker,
):  # fmt: skip
    """Community bonds, then who looks at the market: ads seen (one at most, from a firm drawn by ad weight) and
    the hazard of reconsidering (a customer's: restlessness, bad memories, alarms, rivals' ads; a prospect's:
    unprompted, ads, referrals)."""
    n, n_firms = p.firm.shape[0], p.heard.shape[1]
    u_seen, u_whose, u_review = dice[worker, 0], dice[worker, 1], dice[worker, 2]
    for c in range(first, last):
        lo, hi = chunk_span(c, n)
        n_lookers = 0
        ids = p.identity[lo:hi]
        roll(keys[Roll.ADVERTISING, 0], ids, u_seen)
        roll(keys[Roll.ADVERTISING, 1], ids, u_whose)
        roll(keys[Roll.REVIEW, 0], ids, u_review)
        for i in range(lo, hi):
            k = i - lo
            if community:
                bond_with_community(p, i, cfg, mixed, devoted, indptr, devoted_ties)
            f = p.firm[i]
            ad = n_firms
            if np.float64(u_seen[k]) < ad_limit:
                u = np.float64(u_whose[k])
                ad = 0
                while ad < n_firms and ad_cumulative[ad] <= u:  # searchsorted, side="right"
                    ad += 1
                ad = min(ad, n_firms - 1)
            ad_firm[i] = ad
            if f < n_firms:
                rival_ad = ad < n_firms and ad != f
                base = f32(cfg.review_rate) + f32(cfg.dissatisfied_review) * max(-remembered(p, i, cfg), ZERO)
                hazard = np.float64(base) + cfg.negative_wom_review * (1.0 if p.alarmed[i] else 0.0)
                hazard = np.float64(p.restlessness[i]) * (hazard + cfg.ad_prompt * (1.0 if rival_ad else 0.0))
            else:
                hazard = cfg.prospect_consider + cfg.ad_prompt * (1.0 if ad < n_firms else 0.0)
                hazard = hazard + cfg.referral_uptake * (1.0 if p.referred[i] < n_firms else 0.0)
            if np.float64(u_review[k]) < hazard:
                lookers[0][c * CHUNK + n_lookers] = i
                n_lookers += 1
        lookers[1][c] = n_lookers


@njit(cache=True, nogil=True, _nrt=False)
def choose_supplier(
    p, cfg, market, offer, price_sensitivity, week, lookers, gumbel, utility, ad_firm, fresh_on_quitting,
    fresh_on_joining, changed, counted, first, last, worker,
):  # fmt: skip
    """Those who look pick by logit among available firms and buying nothing (``gumbel``: their noise; ``utility``:
    a working row per part). A leaver who is unhappy keeps a grudge; one who quits for no firm ends the
    relationship; a joiner starts a fresh one, expecting what the firm claims and what was heard of it, and
    forgives it a grudge. (``changed``: movers' value margins are to be computed anew.) The lookers come in
    ``utility.shape[0]`` equal parts (one per thread: they are few), parts ``first..last-1`` here."""
    n_firms = offer.shape[0] - 1
    m, parts = lookers.shape[0], utility.shape[0]
    for c in range(first, last):
        full = utility[c]  # this part's working row
        for k in range(m * c // parts, m * (c + 1) // parts):
            i = np.uint64(lookers[k])
            utilities(p, i, full, cfg, market, offer, price_sensitivity)
            chosen, best = 0, -np.inf
            for j in range(n_firms + 1):
                if np.float64(full[j]) + gumbel[k, j] > best:
                    chosen, best = j, np.float64(full[j]) + gumbel[k, j]
            old, segment = p.firm[i], p.segment[i]
            if chosen == old:
                continue
            if old < n_firms:  # leaving: an unhappy leaver keeps a grudge
                counted[c, Count.DEFECTIONS, old, segment] += 1
                if chosen < n_firms:
                    counted[c, Count.SWITCHES, old, segment] += 1
                rem = remembered(p, i, cfg)
                if rem < 0:
                    p.grudge_firm[i] = old
                    p.grudge[i] = min(-rem, ONE)
                if chosen == n_firms:  # quitting for no firm ends the relationship
                    renew(fresh_on_quitting, i)
            if chosen < n_firms:  # joining: what prompted the look, whether a discount decided it
                if p.referred[i] == chosen:  # praise of the firm heard this week
                    counted[c, Count.ACQUIRED_REFERRAL, chosen, segment] += 1
                elif ad_firm[i] == chosen:  # its ad seen this week
                    counted[c, Count.ACQUIRED_ADVERTISING, chosen, segment] += 1
                else:
                    counted[c, Count.ACQUIRED_ORGANIC, chosen, segment] += 1
                on_discount = offer[chosen].discount > 0
                if on_discount:
                    counted[c, Count.ACQUIRED_ON_DISCOUNT, chosen, segment] += 1
                    if discount_decided(p, i, chosen, full, gumbel[k], market, offer, price_sensitivity):
                        counted[c, Count.ACQUIRED_BY_DISCOUNT, chosen, segment] += 1
                believed = f32(market.prior_quality) + f32(market.ad_claim_weight) * f32(offer[chosen].claims)
                believed = believed + p.heard[i, chosen]
                renew(fresh_on_joining, i)
                p.expectation[i] = clip01(believed)
                p.heard[i, chosen] = ZERO  # what was heard of the firm is now the expectation of it
                if p.grudge_firm[i] == chosen:  # no grudge against the firm one rejoins
                    p.grudge_firm[i] = n_firms
                    p.grudge[i] = ZERO
                p.joined_week[i] = week
                p.discount_left[i] = market.discount_weeks if on_discount else 0
            p.firm[i] = chosen
            changed[i] = True


@njit(cache=True, nogil=True, _nrt=False)
def end_week(
    p, cfg, market, offer, price_sensitivity, changed, paid, discounted, stocks, grudges, counted, payers, paying,
    first, last, worker,
):  # fmt: skip
    """The ladder once more (the value margin kept unless ``changed``: only word of mouth and moving change it
    within a week), what each customer pays (the tariff at the firm's price, less a running discount), and the
    census: everyone by firm (the defected: the firm they left), segment and ladder state. Lists each firm's
    paying customers for ``sum_payments`` (``payers[f]``, per chunk: ``payers[f, chunk * CHUNK:]``, as many as
    ``paying[chunk, f]``)."""
    n, n_firms = p.firm.shape[0], np.uint64(offer.shape[0] - 1)
    for c in range(first, last):
        lo, hi = chunk_span(c, n)
        listed, stock, held, pays = payers[:, c * CHUNK :], stocks[c], grudges[c], paying[c]
        customers = counted[c, Count.CUSTOMERS]
        for i in range(lo, hi):
            classify(p, i, cfg, market, offer, price_sensitivity, not changed[i])
            changed[i] = False
            # As unsigned numbers (never negative), so indexing needs no wraparound test.
            f, state, segment = np.uint64(p.firm[i]), np.uint64(p.state[i]), np.uint64(p.segment[i])
            by = np.uint64(p.grudge_firm[i])
            stock[by if state == np.uint64(Ladder.DEFECTED) else f, segment, state] += 1
            if p.grudge[i] > 0:
                held[by] += 1
            if f < n_firms:
                pay(p, i, f, offer, paid, discounted)
                listed[f, pays[f]] = i
                pays[f] += 1
                customers[f, segment] += 1


@njit(cache=True, nogil=True, _nrt=False)
def sum_payments(p, paid, discounted, payers, paying, money, attitudes, revenue_by_segment, first, last, worker):
    """The week's sums, as ``np.bincount`` adds them: each firm's paying customers one after another, in customer
    order, in float64. Jobs ``first..last-1`` of 2 x F: each firm's revenue (in all, and by segment), then each
    firm's discounts given, bond, trust and tariff (two threads: one each, about equal work)."""
    n_firms = money.shape[1]
    for job in range(first, last):
        f = job % n_firms
        a, b, d, e = 0.0, 0.0, 0.0, 0.0  # kept in registers: the sums of one firm
        for c in range(paying.shape[0]):
            listed = payers[f, c * CHUNK : c * CHUNK + paying[c, f]]
            if job < n_firms:
                for k in range(listed.shape[0]):
                    i = np.uint64(listed[k])
                    a += np.float64(paid[i])
                    revenue_by_segment[f, p.segment[i]] += np.float64(paid[i])
            else:
                for k in range(listed.shape[0]):
                    i = np.uint64(listed[k])
                    if p.discount_left[i] > 0:
                        a += np.float64(discounted[i])
                    b += np.float64(p.bond[i])
                    d += np.float64(p.trust[i])
                    e += np.float64(p.tariff[i])
        if job < n_firms:
            money[0, f] = a
        else:
            money[1, f] = a
            attitudes[0, f], attitudes[1, f], attitudes[2, f] = b, d, e


@njit(cache=True, _nrt=False, inline="always")
def pay(p, i, f, offer, paid, discounted):
    """The customer pays the tariff at the firm's price, less any running discount (given, and recorded)."""
    price = f32(offer[f].price) * p.tariff[i]
    if p.discount_left[i] > 0:
        discount = f32(offer[f].discount)
        discounted[i] = price * discount
        price = price * (ONE - discount)
    paid[i] = price


@njit(cache=True, nogil=True, _nrt=False)
def census(p, stocks, grudges, first, last, worker):
    """Everyone by firm (the defected: the firm they left), segment and ladder state; grudges held per firm."""
    n = p.firm.shape[0]
    for c in range(first, last):
        lo, hi = chunk_span(c, n)
        for i in range(lo, hi):
            state = p.state[i]
            stocks[c, p.grudge_firm[i] if state == Ladder.DEFECTED else p.firm[i], p.segment[i], state] += 1
            if p.grudge[i] > 0:
                grudges[c, p.grudge_firm[i]] += 1


@njit(cache=True, nogil=True, _nrt=False)
def classify_everyone(p, cfg, market, offer, price_sensitivity, first, last, worker):
    n = p.firm.shape[0]
    for c in range(first, last):
        lo, hi = chunk_span(c, n)
        for i in range(lo, hi):
            classify(p, i, cfg, market, offer, price_sensitivity)


# Sums of float values: one customer after another, in customer order, on one thread, as ``np.bincount`` adds them.
@njit(cache=True, _nrt=False)
def sum_by_firm(who, firm, values, out):
    """``out[firm[who[k]]] += values[k]``, k = 0, 1, ... (entries for no firm dropped)."""
    for k in range(who.shape[0]):
        f = firm[who[k]]
        if f < out.shape[0]:
            out[f] += np.float64(values[k])


@njit(cache=True)
def gather(events):
    """The events listed per chunk, (buffer, count per chunk), as one array in chunk (customer) order."""
    buffer, counts = events
    out = np.empty(counts.sum(), np.int64)
    k = 0
    for c in range(counts.shape[0]):
        out[k : k + counts[c]] = buffer[c * CHUNK : c * CHUNK + counts[c]]
        k += counts[c]
    return out


def chunks(size: int) -> int:
    """How many chunks ``size`` customers (or events) make."""
    return (size + CHUNK - 1) // CHUNK


_POOL: list[ThreadPoolExecutor] = []  # one pool of worker threads for every population, made on first need
os.register_at_fork(after_in_child=_POOL.clear)  # a forked child has none of its parent's threads
_THREADS = [max(1, numba.config.NUMBA_NUM_THREADS)]


def threads() -> int:
    """Threads a large population runs on: ``NUMBA_NUM_THREADS`` (default: the cores this process may use)."""
    return _THREADS[0]


def set_threads(n: int) -> None:
    """Run on ``n`` threads from now on (the numbers do not depend on it)."""
    if n < 1:
        raise ValueError(f"threads must be at least 1, not {n}")
    _THREADS[0] = n


def _pool(threads: int) -> ThreadPoolExecutor:
    if not _POOL or _POOL[0]._max_workers < threads - 1:
        _POOL[:] = [ThreadPoolExecutor(threads - 1, "sim-chunks")]
    return _POOL[0]


def over_chunks(kernel, n_chunks: int, threads: int, *args) -> None:
    """Run ``kernel(*args, first, last, worker)`` over chunks 0..n_chunks-1, whole chunks to each of ``threads``
    threads (``worker``: the thread's number, for its working rows).

    The kernels release the GIL; each writes only its own chunks' customers, events and counts."""
    threads = min(threads, n_chunks)
    if threads <= 1:
        kernel(*args, 0, n_chunks, 0)
        return
    bounds = [n_chunks * t // threads for t in range(threads + 1)]
    others = [_pool(threads).submit(kernel, *args, bounds[t], bounds[t + 1], t) for t in range(1, threads)]
    kernel(*args, bounds[0], bounds[1], 0)  # the calling thread takes the first share
    for done in others:
        done.result()


def in_parts(function, values: np.ndarray, threads: int) -> np.ndarray:
    """``function(values)`` for an elementwise function (numpy's and scipy's release the GIL), in as many parts
    as threads, joined: the same numbers as in one go."""
    if threads <= 1 or len(values) < IN_PARTS_FROM:
        return function(values)
    parts = np.array_split(values, threads)
    others = [_pool(threads).submit(function, part) for part in parts[1:]]
    return np.concatenate([function(parts[0]), *(done.result() for done in others)])


class CompiledCustomers:
    """All customers, as arrays indexed by customer (one per declared state variable), stepped by compiled kernels.

    The interface of ``sim.model.customers.Customers``: the declared state as attributes, ``step``,
    ``classify``, ``remembered``, ``has_firm``, ``census``. Threads: Numba's setting (``numba.set_num_threads``,
    ``NUMBA_NUM_THREADS``; all cores by default), fewer for a small population; the numbers never depend on it.
    """

    def __init__(
        self,
        cfg: CustomersConfig,
        market: MarketConfig,
        n_firms: int,
        initial_weights: np.ndarray,
        service: np.ndarray,
        streams: Streams,
    ):
        self.cfg, self.market = cfg, market
        self.n, self.n_firms = cfg.n, n_firms
        self.no_firm = n_firms
        self.n_segments = len(cfg.segments.groups)
        self.week = 0
        for name, values in fresh_arrays(cfg, n_firms, self.n).items():
            setattr(self, name, values)
        for name, values in draw_start(cfg, n_firms, initial_weights, service, streams.dice).items():
            getattr(self, name)[:] = values
        self.people = People(*(getattr(self, v.name) for v in STATE))
        fresh = {v.name: fresh_value(v, cfg, n_firms) for v in STATE}
        self._leaving, self._quitting, self._joining = (
            tuple((getattr(self, v.name), fresh[v.name]) for v in variables)
            for variables in (FRESH_ON_LEAVING, FRESH_ON_QUITTING, FRESH_ON_JOINING)
        )
        self._cfg, self._market = settings_record(cfg)[0], settings_record(market)[0]
        self._chunks = chunks(self.n)
        n = self.n
        # Working arrays, kept from week to week: lists of events, per chunk (buffer, count per chunk).
        self._events = [(np.empty(n, np.int32), np.zeros(self._chunks, np.int64)) for _ in range(6)]
        self._values = np.zeros(n, f32)  # advice given up, then what each customer pays
        self._payers = np.zeros((n_firms, n), np.int32)  # each firm's paying customers, listed per chunk
        self._discounted = np.zeros(n, f32)
        self._said = np.zeros(n, np.int8)
        self._devoted_at = np.full(n, -1, np.int16)  # the firm a customer is devoted to (-1: none), as of midweek
        self._was_devoted_at = np.full(n, -1, np.int16)
        self._devoted_ties = np.zeros((n, n_firms), np.int32)  # ties devoted to each firm
        self._ad_firm = np.full(n, n_firms, np.int16)
        self._words = np.zeros((n, 2, n_firms), np.int32)  # this week's praise and criticism heard, by firm
        self._changed = np.zeros(n, bool)  # the value margin is to be computed anew at the end of the week
        self._flags = np.zeros(n, np.uint8)  # this week's life events: LEAVES, HIT
        self._dice = np.zeros((0, 4, CHUNK), f32)  # each thread's rows of dice (grown to the threads used)
        self._census: tuple[np.ndarray, np.ndarray] | None = None
        self._talk_chance = np.zeros(len(Ladder), f32)  # by ladder state; non-buyers do not talk of a firm
        self._talk_chance[[Ladder.DEVOTED, Ladder.LOYAL, Ladder.CUSTOMER, Ladder.DETRACTOR]] = (
            cfg.talk_devoted,
            cfg.talk_loyal,
            cfg.talk_customer,
            cfg.talk_detractor,
        )

    def _threads(self) -> int:
        """``threads()``, or fewer for a small population (waking a thread costs more than its share)."""
        return max(1, min(threads(), self._chunks // CHUNKS_PER_THREAD))

    def _run(self, kernel, n_chunks: int, *args) -> None:
        over_chunks(kernel, n_chunks, self._threads(), *args)

    def _working_rows(self) -> np.ndarray:
        """Each thread's rows of dice, as many as threads this week."""
        if len(self._dice) < self._threads():
            self._dice = np.zeros((self._threads(), 4, CHUNK), f32)
        return self._dice

    # ---------------------------------------------------------------- derived
    @property
    def remembered(self) -> np.ndarray:
        """Remembered experience: recency trace plus weighted peaks (peak-end)."""
        return self.recent + self.cfg.peak_weight * (self.peak_pos + self.peak_neg)

    @property
    def has_firm(self) -> np.ndarray:
        return self.firm < self.no_firm

    def census(self) -> tuple[np.ndarray, np.ndarray]:
        """(stocks, grudges): everyone by firm (F: none; the defected: the firm they left), segment and ladder
        state, shape (F + 1, segments, len(Ladder)); people holding a grudge, by firm (F + 1)."""
        if self._census is None:
            stocks = np.zeros((self._chunks, self.n_firms + 1, self.n_segments, len(Ladder)), np.int64)
            grudges = np.zeros((self._chunks, self.n_firms + 1), np.int64)
            self._run(census, self._chunks, self.people, stocks, grudges)
            self._census = stocks.sum(axis=0), grudges.sum(axis=0)
        return self._census

    def counts_by_state(self) -> np.ndarray:
        """(F, len(Ladder)) counts of current customers by state; defected by the firm they left."""
        return self.census()[0][: self.n_firms].sum(axis=1)

    def _offer(self, offer: Offer) -> np.ndarray:
        """The offer as a record per firm, with the terms every customer computes alike from it."""
        record = np.zeros(self.n_firms + 1, OFFER)
        for name in (*LEVERS, *OFFER_EXTRAS):
            record[name] = getattr(offer, name)
        market, firms = self.market, slice(0, self.n_firms)  # all firms at once, in the numbers of one
        record["list_price"][firms], record["deal_price"][firms] = offer.relative_prices(firms, market.reference_price)
        record["kept_price"][firms] = (1 - offer.discount[firms]).astype(f32)
        record["untried"][firms] = (market.prior_quality + market.ad_claim_weight * offer.claims[firms]).astype(f32)
        incidents = f32(self.cfg.incident_rate) * offer.incident_multiplier[firms].astype(f32)
        record["incident_chance"][firms] = np.minimum(incidents, f32(1))
        record["advice_chance"][firms] = f32(market.advice_contact) * offer.proactive_advice[firms].astype(f32)
        record["upsell_chance"][firms] = f32(market.upsell_contact) * offer.upsell[firms].astype(f32)
        return record

    def classify(self, offer: Offer) -> None:
        """Read the ladder state off the two attitudes and the memory."""
        args = (self.people, self._cfg, self._market, self._offer(offer), f32(offer.price_sensitivity))
        self._run(classify_everyone, self._chunks, *args)
        self._census = None

    # ------------------------------------------------------------- the week
    def step(self, week: int, offer: Offer, net: SocialNetwork, streams: Streams) -> Tally:
        """One week in the life of every customer."""
        self.week = week
        p, cfg, market, n_firms, run, whole = (
            self.people,
            self._cfg,
            self._market,
            self.n_firms,
            self._run,
            self._chunks,
        )
        record, sensitivity = self._offer(offer), f32(offer.price_sensitivity)
        keys = streams.dice.table(ROLLED, week, max(3, self.market.broadcast_size))
        counted = np.zeros((whole, len(Count), n_firms, self.n_segments), np.int64)
        summed = np.zeros((len(Count), n_firms))
        hits_, leavers_, advised_, speakers_, venters_, converts_ = self._events

        # Who leaves, who will have an incident; their experience noise is scipy's normal of their die, as in every
        # engine.
        dice, flags = self._working_rows(), self._flags
        run(foresee_incidents, whole, p, cfg, record, keys, flags, hits_, dice)
        hits = gather(hits_)
        noise = in_parts(
            lambda who: streams.dice.normal(Decision.EXPERIENCE, week, who).ravel(),
            self.identity[hits],
            self._threads(),
        )
        experienced = np.empty(len(hits), f32)
        # The week up to word of mouth: turnover, fading, service, promises, offers, the ladder, who speaks.
        run(
            live_the_week, whole, p, cfg, market, record, sensitivity, keys, self._talk_chance, self._leaving, flags,
            hits_, noise, experienced, self._values, self._said, self._devoted_at, self._was_devoted_at,
            leavers_, advised_, speakers_, venters_, converts_, counted, dice,
        )  # fmt: skip
        leavers = gather(leavers_)
        if len(leavers):  # newcomers are new people: their traits (numpy and scipy, as in every engine)
            for name, values in draw_traits(self.cfg, streams.dice, self.identity[leavers]).items():
                getattr(self, name)[leavers] = values
        sum_by_firm(hits, self.firm, experienced, summed[Count.EXPERIENCE_SUM])
        advised = gather(advised_)
        sum_by_firm(advised, self.firm, self._values[advised], summed[Count.ADVICE_VALUE])

        # Word of mouth: words addressed in parallel, then each thread takes those its customers hear, counted per
        # listener, then taken in.
        mixed = net.mixed
        speakers, venters = gather(speakers_), gather(venters_)
        n_words = chunks(len(speakers) + len(venters))
        sizes = np.zeros(n_words + 1, np.int64)
        reach = f32(offer.reach)
        run(count_words, n_words, p, keys, reach, self.market.broadcast_size, speakers, venters, sizes[1:])
        offsets = np.cumsum(sizes)
        recipient, code = np.empty(offsets[-1], np.int64), np.empty(offsets[-1], np.int64)
        run(
            spread_word_of_mouth, n_words, p, market, keys, reach, speakers, venters, self._said, mixed, net.indptr,
            net.indices, self._devoted_at, offsets, recipient, code,
        )  # fmt: skip
        listeners_ = advised_  # reused
        run(hear, whole, recipient, code, self._words, listeners_, counted)
        listeners = gather(listeners_)
        run(take_in_word_of_mouth, chunks(len(listeners)), p, market, listeners, self._words, self._changed)

        # Community, ads and who looks at the market; their choice (Gumbel noise by numpy, as in every engine).
        community = self.cfg.community_bond != 0 and (mixed or len(net.indices) > 0)
        if community and not mixed:
            converts = gather(converts_)
            run(
                count_devoted_ties, whole, converts, self._was_devoted_at, self._devoted_at, net.indptr, net.indices,
                self._devoted_ties,
            )  # fmt: skip
        devoted = np.bincount(self._devoted_at + 1, minlength=n_firms + 1)[1:] if mixed else np.zeros(n_firms, int)
        ads = np.where(offer.available[:n_firms], offer.advertising[:n_firms], 0)
        total = ads.sum()
        ad_limit = float(min(1.0, self.market.ad_reach * total))
        ad_cumulative = np.cumsum(ads) / total if total > 0 else np.ones(n_firms)
        lookers_ = leavers_  # reused
        run(
            look_around, whole, p, cfg, keys, community, mixed, devoted, net.indptr, self._devoted_ties, ad_limit,
            ad_cumulative, self._ad_firm, lookers_, dice,
        )  # fmt: skip
        lookers = gather(lookers_)
        u = streams.dice.uniform64(Decision.CHOICE, week, self.identity[lookers], n_firms + 1)
        gumbel = in_parts(lambda u: -np.log(-np.log(u + 1e-12) + 1e-12), u, self._threads())
        parts = self._threads()
        run(
            choose_supplier, parts, p, cfg, market, record, sensitivity, week, lookers, gumbel,
            np.empty((parts, n_firms + 1), f32), self._ad_firm, self._quitting, self._joining, self._changed, counted,
        )  # fmt: skip

        # The ladder again, payment and the census; the sums of money and attitudes, in customer order.
        stocks = np.zeros((whole, n_firms + 1, self.n_segments, len(Ladder)), np.int64)
        grudges = np.zeros((whole, n_firms + 1), np.int64)
        money, attitudes = np.zeros((2, n_firms)), np.zeros((3, n_firms))
        revenue_by_segment = np.zeros((n_firms, self.n_segments))
        paying = np.zeros((whole, n_firms), np.int64)
        run(
            end_week, whole, p, cfg, market, record, sensitivity, self._changed, self._values, self._discounted,
            stocks, grudges, counted, self._payers, paying,
        )  # fmt: skip
        self._census = stocks.sum(axis=0), grudges.sum(axis=0)
        # The sums of money and attitudes, each firm's customers in customer order (two threads: one each).
        sums = (p, self._values, self._discounted, self._payers, paying, money, attitudes, revenue_by_segment)
        over_chunks(sum_payments, 2 * n_firms, min(self._threads(), 2), *sums)
        summed[[Count.REVENUE, Count.DISCOUNT_GIVEN]] = money
        summed[[Count.BOND_SUM, Count.TRUST_SUM, Count.TARIFF_SUM]] = attitudes

        tally = Tally(n_firms, self.n_segments)
        total_counts = counted.sum(axis=0)
        tally.counts[:] = total_counts.sum(axis=2) + summed
        tally.by_segment[:] = total_counts[list(BY_SEGMENT)]
        tally.by_segment[BY_SEGMENT.index(Count.REVENUE)] = revenue_by_segment
        return tally
