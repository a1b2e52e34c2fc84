"""The customer population, compiled: the week's rules as Numba kernels over the declared state arrays.

``engine=compiled``, the default. The state is ``sim.model.state``'s, as arrays; the rules are those of
``sim.model.agents`` (the readable reference, one Mesa agent per customer), each a function of the same name here
(``@rule``; the list is the ODD's process overview, ``tests/test_rules.py``), with every operation in the same
number type (float32 state, float64 where the reference promotes), so the two engines give the same numbers, bit
for bit (``tests/test_docking.py``).

The kernels take a few records instead of many arrays: ``People`` (every declared state variable: ``p.bond[i]``),
``Week`` (what every rule reads this week: settings, the offer, the dice's keys: ``week.offer[f].service``),
``Lists`` (this week's lists of events: ``lists.speakers``), ``Work`` (working arrays kept from week to week:
``work.given_up[i]``, each thread's rows of dice ``work.rolls.advice[worker]``, the counts ``work.counted``).

What makes it fast: a week is four passes over the customers (``foresee_incidents``, ``live_the_week``,
``look_around``, ``end_week``) and a few over those who talk, look or pay, instead of many numpy passes and
temporaries; dice are rolled for a whole chunk in loops the compiler turns into vector instructions; what a
pass can know without looking is not looked at again (the value margin of a customer who neither heard word of
mouth nor moved is the one computed earlier that week; each customer's devoted ties per firm are kept up to date
by the few whose devotion changed); and the passes run on all cores. Customers are indexed with unsigned numbers
(no wraparound test at each access), and the kernels run without Numba's reference counting (``_nrt=False``:
nothing is allocated inside, and passing the records to the rules would otherwise count references to every array
at every call).

What keeps it exact and deterministic:

- Customers are split into chunks of ``chunk`` (a parameter of the population, ``DEFAULT_CHUNK``); threads take
  whole chunks, whatever their number. Events (who leaves, who has an incident, who talks, ...) are listed per
  chunk and read in chunk order, which is customer order. Counts are integers, summed over chunks.
- Sums of money, bond, trust and tariff (float64, in customer order, as the reference adds them) are added one
  customer after another: ``end_week`` lists each firm's paying customers per chunk, and ``sum_payments`` adds
  each firm's list in order, its sums kept in registers (two threads: one the revenue, one the rest).
- Word of mouth is addressed in parallel by chunks of words (``spread_word_of_mouth``, each word to its place in
  one list), then each thread takes the words its customers hear (``hear``), counted per listener as integers and
  taken in afterwards, so the order of delivery does not matter.
- The transcendental functions stay numpy's and scipy's, called from Python as the reference calls them: normals
  for the experience noise (``Dice.normal``), the Gumbel noise of the logit choice (``np.log``), and the traits
  of newcomers (``draw_traits``). Elementwise, so they may run in parts.
"""

from __future__ import annotations

import os
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields

import numba
import numpy as np
from numba import literal_unroll, njit

from ..config import LEVERS, CustomersConfig, MarketConfig, Regulation
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
from .vocabulary import (
    BY_SEGMENT,
    BY_TENURE,
    BY_TENURE_MONEY,
    OFFER_EXTRAS,
    TENURE_YEARS,
    Complaint,
    Count,
    Happened,
    Ladder,
    Offer,
    Tally,
)

f32 = np.float32
ZERO, ONE, TWO = f32(0), f32(1), f32(2)
CUSTOMERS_ROW, CONTACTS_ROW, FREE_FIXES_ROW, HANDLED_ROW = (
    BY_TENURE.index(what) for what in (Count.CUSTOMERS, Count.CONTACTS, Count.FREE_FIXES, Count.COMPLAINTS_HANDLED)
)
DEFAULT_CHUNK = 8192  # customers (or events) per chunk: the unit of parallel work; results never depend on it
CHUNKS_PER_THREAD = 4  # a smaller population runs on fewer threads: waking a thread costs more than its share
IN_PARTS_FROM = 2 * DEFAULT_CHUNK  # numpy's and scipy's functions of fewer values run in one go

# The declared state of every customer, one array per variable: ``p.bond[i]``.
People = namedtuple("People", [v.name for v in STATE])

# What every rule reads this week: the settings as records (``week.cfg.forgiveness``: floats stay float64, as in
# Python), the offer (a record per firm, index F: no firm), the multiplier of price sensitivity (recessions), the
# keys of every decision's dice (``week.keys[Decision.GIFTS, 0]``), the chance of talking by ladder state, the
# chance that a word is broadcast, the week's number, whether community bonds form, and where ads are seen.
Week = namedtuple(
    "Week",
    "cfg market offer price_sensitivity keys talk_chance reach number community ad_limit ad_cumulative notices "
    "walk_cap",
)

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

# A list of customers (or words), per chunk: chunk c's entries at ``who[c * chunk:]``, ``count[c]`` of them.
Events = namedtuple("Events", "who count")
LISTED = ("hits", "leavers", "advised", "speakers", "venters", "converts", "listeners", "lookers")
# This week's lists: who has an incident, leaves the market, is advised, talks, vents, became devoted or ceased to
# be (``converts``), heard word of mouth, looks at the market; all of ``chunk`` entries per chunk.
Lists = namedtuple("Lists", ["chunk", *LISTED])

# Each thread's row of dice of each kind, rolled for a whole chunk at once: ``rolls.advice[worker, k]``.
Rolls = namedtuple("Rolls", "turnover incident advice contact talk vent ad_seen ad_whose review")

# Working arrays, kept from week to week (per customer unless said):
#   flags: this week's life events (LEAVES, HIT); noise, experienced: per incident, its standard normal and the
#   service experienced; given_up: weekly revenue given up by advice; paid, discounted: what one pays, and the
#   discount given; said: the sign of one's word this week; devoted_at, was_devoted_at: the firm one is devoted to
#   (-1: none), now and before this week's change; devoted_ties[i, f]: i's ties devoted to firm f; ad_firm: the firm
#   whose ad one saw (F: none); heard_now[i, 0 or 1, f]: this week's praise and criticism of firm f heard;
#   changed: the value margin is to be computed anew; counted[chunk, Count, firm, segment]: this week's counts;
#   by_tenure[chunk, row, firm, tenure year] and by_cohort[chunk, row, firm, cohort]: the counts of ``BY_TENURE``.
Work = namedtuple(
    "Work",
    "rolls flags noise experienced given_up paid discounted said devoted_at was_devoted_at devoted_ties ad_firm "
    "heard_now changed counted by_tenure by_cohort",
)

# The network as the kernels read it: random mixing, or ties as compressed sparse rows.
Ties = namedtuple("Ties", "mixed indptr indices")

# The week's words: who talks and who vents (customers), then each word's place (``offsets``, by chunk of words)
# and what it became: whom it reaches (``recipient``, -1: nobody), its ``code`` (``word``), and who answered it
# back (``defender``, -1: nobody).
Words = namedtuple("Words", "speakers venters sizes offsets recipient code defender")

# Those who look at the market, their Gumbel noise and a working row of utilities per part.
Choices = namedtuple("Choices", "lookers gumbel utility")

# What leaving the market, quitting a firm and joining one make fresh: (array, newcomer's value) pairs.
Fresh = namedtuple("Fresh", "leaving quitting joining")

# The week's books: everyone by firm, segment and ladder state, grudges held per firm, per chunk; each firm's
# paying customers listed per chunk (``payers[f, chunk * size:]``, as many as ``paying[chunk, f]``); and the sums,
# money by tenure year and cohort among them (``[row of BY_TENURE_MONEY, firm, bucket]``).
Books = namedtuple(
    "Books", "stocks grudges payers paying money attitudes revenue_by_segment money_by_tenure money_by_cohort"
)

RULES: list[str] = []  # the rules of the model, in the order they are declared here (``@rule``)


def rule(**options):
    """A rule of the model (the ODD names it; the agents engine has a method of the same name), compiled."""

    def compiled(function):
        RULES.append(function.__name__)
        return njit(cache=True, _nrt=False, **options)(function)

    return compiled


def compiled_here() -> int:
    """How many kernels this process compiled, not loaded from the cache on disk (numba's own counts)."""
    kernels = [v for v in globals().values() if isinstance(v, numba.core.registry.CPUDispatcher)]
    return sum(sum(k.stats.cache_misses.values()) for k in kernels)


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
def record(p, i, what):
    """Customer ``i``'s week: ``what`` happened (a ``Happened`` bit)."""
    p.happened[i] |= np.uint32(what)


@njit(cache=True, _nrt=False, inline="always")
def remembered(p, i, cfg):
    """Remembered experience: recency trace plus weighted peaks (peak-end)."""
    return p.recent[i] + f32(cfg.peak_weight) * (p.peak_pos[i] + p.peak_neg[i])


@njit(cache=True, _nrt=False, inline="always")
def buckets(p, i, n_cohorts):
    """Customer ``i``'s tenure year and acquisition cohort (``vocabulary.tenure_year``, ``vocabulary.cohort_of``)."""
    joined = p.joined_week[i]
    cohort = 0 if joined <= 0 else min((joined - 1) // 52 + 1, n_cohorts - 1)
    return min(p.tenure[i] // 52, TENURE_YEARS), cohort


@njit(cache=True, _nrt=False, inline="always")
def count_kept(p, i, f, row, work, c):
    """Count one of ``BY_TENURE`` (its ``row``) for customer ``i`` of firm ``f``, by tenure year and cohort."""
    tenure, cohort = buckets(p, i, work.by_cohort.shape[3])
    work.by_tenure[c, row, f, tenure] += 1
    work.by_cohort[c, row, f, cohort] += 1


@rule(inline="always")
def turn_over(p, i, fresh_on_leaving, counted, c):
    """A life event takes customer ``i`` out of the market: a newcomer takes the place, with the slot's next identity
    (their traits are drawn after the pass, by numpy and scipy as in every engine)."""
    if p.firm[i] < p.heard.shape[1]:
        counted[c, Count.DEPARTURES, p.firm[i], p.segment[i]] += 1
    renew(fresh_on_leaving, i)
    p.identity[i] = _mix(p.identity[i])
    record(p, i, Happened.LEFT_MARKET)


@rule(inline="always")
def fade(p, lo, hi, week):
    """Memories, bonds, what was heard and grudges fade without renewal; trust drifts back to its prior; buyers'
    tenure grows, running discounts count down (customers lo..hi-1, in loops the compiler vectorizes)."""
    cfg, market = week.cfg, week.market
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


@rule(inline="always")
def remember(p, i, feeling, cfg, peak):
    """Every feeling enters the recency trace; a peak (a surprise, a gift, a voiced complaint) is remembered too."""
    p.recent[i] += f32(cfg.memory_learning) * (feeling - p.recent[i])
    if peak:
        if feeling > p.peak_pos[i]:
            p.peak_pos[i] = feeling
            record(p, i, Happened.NEW_BEST)
        if feeling < p.peak_neg[i]:
            p.peak_neg[i] = feeling
            record(p, i, Happened.NEW_WORST)


@rule(inline="always")
def be_grateful(p, i, cfg):
    """Reciprocity: an unasked gift raises the bond, more so where trust is high."""
    p.bond[i] += f32(cfg.gratitude) * p.bonding[i] * p.trust[i] * (ONE - p.bond[i])
    p.trust[i] = min(p.trust[i] + f32(cfg.gift_trust), ONE)
    record(p, i, Happened.GRATEFUL)


@rule(inline="always")
def forgive(felt, bond, cfg):
    """Devotion forgives: a bonded customer's bad feeling is damped."""
    if felt < 0:
        return felt * (ONE - f32(cfg.forgiveness) * bond)
    return felt


@rule(inline="always")
def complain(p, i, felt, bond, u_voice, u_heard, week):
    """Voice before exit: a hurt customer may speak up (bonded ones more), and a listening firm makes it right
    (faster firms more), while an ignored complaint hurts more (``u_voice``, ``u_heard``: the customer's dice).
    Returns the feeling, and whether the customer was hurt, voiced the complaint and had it handled."""
    cfg, f = week.cfg, p.firm[i]
    hurt = felt < f32(cfg.complaint_threshold)
    voiced = handled = False
    if hurt:
        voice = min(f32(cfg.voice) * p.outspokenness[i] * (f32(0.5) + bond), ONE)
        voiced = u_voice < voice
        handled = voiced and u_heard < week.offer[f].listening
    if handled:
        felt = felt + f32(cfg.recovery_gain) * f32(week.offer[f].speed)
        p.complaint[i] = Complaint.HANDLED
    elif voiced:
        felt = felt - f32(cfg.ignored_penalty)
        p.complaint[i] = Complaint.IGNORED
    elif hurt:
        p.complaint[i] = Complaint.SILENT
    if voiced:
        record(p, i, Happened.COMPLAINED)
    return felt, hurt, voiced, handled


@rule(inline="always")
def seek_help(p, i, voiced, week, work, c):
    """An incident is settled by self-service (as often as the firm's ease allows) or by a call; a voiced complaint
    is a call. A call that self-service at full ease would have spared, or that comes back because the problem was
    not fixed the first time (less often at a firm of better service), is failure demand."""
    cfg, f, who, counted = week.cfg, p.firm[i], p.identity[i], work.counted
    segment = p.segment[i]
    u_self = die32(week.keys[Decision.CONTACTS, 0], who)
    if not voiced and u_self < f32(cfg.self_service) * f32(week.offer[f].ease):
        record(p, i, Happened.SELF_SERVED)
        counted[c, Count.SELF_SERVED, f, segment] += 1
        return
    record(p, i, Happened.CALLED)
    counted[c, Count.CONTACTS, f, segment] += 1
    count_kept(p, i, f, CONTACTS_ROW, work, c)
    if not voiced and u_self < f32(cfg.self_service):
        counted[c, Count.FAILURE_CONTACTS, f, segment] += 1
    unfixed = min((ONE - f32(cfg.first_fix)) * TWO * (ONE - f32(week.offer[f].service)), ONE)
    if die32(week.keys[Decision.CONTACTS, 1], who) < unfixed:
        record(p, i, Happened.CALLED_AGAIN)
        counted[c, Count.CONTACTS, f, segment] += 1
        count_kept(p, i, f, CONTACTS_ROW, work, c)
        counted[c, Count.FAILURE_CONTACTS, f, segment] += 1


@rule(inline="always")
def see_through(p, i, week):
    """Claims above acts are seen through, a little at every contact: trust and bond are lost."""
    cfg, f = week.cfg, p.firm[i]
    detection = f32(cfg.detection_rate) * f32(max(week.offer[f].claims - week.offer[f].acts, 0.0))
    detected = detection > 0 and die32(week.keys[Decision.DETECTION, 0], p.identity[i]) < detection
    if detected:
        p.trust[i] = max(p.trust[i] - f32(cfg.detection_trust_loss), ZERO)
        p.bond[i] -= f32(cfg.detection_bond_loss)
        record(p, i, Happened.SAW_THROUGH)
    return detected


@rule(inline="always")
def experience_service(p, i, noise, week, work, c):
    """An incident: the service experienced (``noise``: the customer's standard normal), a gift, a complaint and
    claims seen through turn into a feeling, bond, memory and expectation. Returns the experienced service."""
    cfg, market = week.cfg, week.market
    f, segment = p.firm[i], p.segment[i]
    record(p, i, Happened.INCIDENT)
    x = f32(week.offer[f].service) + f32(cfg.experience_noise) * noise
    generosity = week.offer[f].generosity
    gifted = generosity > 0 and die32(week.keys[Decision.GIFTS, 0], p.identity[i]) < generosity
    if gifted:  # a free fix
        x = x + f32(market.gift_value)
        record(p, i, Happened.FREE_FIX)
    # Disconfirmation: experience against expectation, losses loom larger, surprises amplify.
    disconfirmation = x - p.expectation[i]
    felt = disconfirmation if disconfirmation >= 0 else f32(cfg.loss_aversion) * disconfirmation
    surprised = abs(disconfirmation) > f32(cfg.surprise_threshold)
    if surprised:
        felt = f32(cfg.surprise_gain) * felt
    bond = p.bond[i]
    felt = forgive(felt, bond, cfg)
    u_voice, u_heard = (
        die32(week.keys[Decision.COMPLAINTS, 0], p.identity[i]),
        die32(week.keys[Decision.COMPLAINTS, 1], p.identity[i]),
    )
    felt, hurt, voiced, handled = complain(p, i, felt, bond, u_voice, u_heard, week)
    detected = see_through(p, i, week)
    seek_help(p, i, voiced, week, work, c)
    # Feelings move the bond (through a human touch), memory and expectation.
    human = f32(week.offer[f].humanity)
    delight = f32(cfg.delight_bond) * p.bonding[i] * human * max(felt, ZERO)
    p.bond[i] += delight - f32(cfg.frustration_bond) * max(-felt, ZERO)
    if gifted:
        be_grateful(p, i, cfg)
    remember(p, i, felt, cfg, surprised or gifted or voiced)
    adapted = p.expectation[i] + f32(cfg.expectation_adaptation) * (x - p.expectation[i])
    p.expectation[i] = clip01(adapted)
    p.bond[i] = clip01(p.bond[i])
    p.feeling[i] = felt
    counted = work.counted
    counted[c, Count.INCIDENTS, f, segment] += 1
    counted[c, Count.FREE_FIXES, f, segment] += gifted
    counted[c, Count.PROBLEMS, f, segment] += hurt
    counted[c, Count.COMPLAINTS, f, segment] += voiced
    counted[c, Count.COMPLAINTS_HANDLED, f, segment] += handled
    counted[c, Count.DETECTIONS, f, segment] += detected
    if gifted:
        count_kept(p, i, f, FREE_FIXES_ROW, work, c)
    if handled:
        count_kept(p, i, f, HANDLED_ROW, work, c)
    return x


@rule(inline="always")
def believe_promises(p, i, week):
    """Promises pull a customer's expectation towards the firm's claims."""
    claims = f32(week.offer[p.firm[i]].claims)
    p.expectation[i] += f32(week.cfg.promise_pull) * (claims - p.expectation[i])


@rule(inline="always")
def receive_offers(p, i, u_advice, u_contact, week, counted, c):
    """Giving: advice of a cheaper tariff (gratitude, whether or not the customer moves to it). Taking: upsell
    contacts (trust lost), and a bigger tariff that may or may not meet a need.

    Returns the weekly revenue given up by advice taken, or -1 if none. (``u_advice``, ``u_contact``: the
    customer's dice, rolled whatever the firm: an unused die changes nothing.)"""
    cfg, market, offer = week.cfg, week.market, week.offer
    f, segment, who = p.firm[i], p.segment[i], p.identity[i]
    given_up = f32(-1)
    overpaying = p.tariff[i] > p.fit[i] + f32(1e-3)
    if overpaying and not p.aware[i] and u_advice < offer[f].advice_chance:
        counted[c, Count.ADVICE_GIVEN, f, segment] += 1
        record(p, i, Happened.ADVISED)
        if die32(week.keys[Decision.OFFERS, 3], who) < f32(cfg.advice_uptake):
            counted[c, Count.ADVICE_TAKEN, f, segment] += 1
            given_up = f32(offer[f].price) * (p.tariff[i] - p.fit[i])
            p.tariff[i] = p.fit[i]
            record(p, i, Happened.MOVED_TO_FIT)
        else:
            p.aware[i] = True  # told, and stays: the goodwill of being told remains
        be_grateful(p, i, cfg)
        remember(p, i, f32(market.gift_value * cfg.surprise_gain), cfg, True)
        p.bond[i] = clip01(p.bond[i])
    if u_contact < offer[f].upsell_chance:
        counted[c, Count.UPSELL_CONTACTS, f, segment] += 1
        record(p, i, Happened.UPSELL_CALL)
        p.trust[i] = max(p.trust[i] - f32(cfg.upsell_trust_loss), ZERO)
        remember(p, i, -f32(market.upsell_annoyance), cfg, True)
        if die32(week.keys[Decision.OFFERS, 2], who) < f32(market.upsell_accept):
            counted[c, Count.UPSELLS, f, segment] += 1
            record(p, i, Happened.UPSOLD)
            bigger = min(p.tariff[i] + f32(market.upsell_step), TWO)
            if die32(week.keys[Decision.OFFERS, 4], who) < f32(market.upsell_fit):
                p.fit[i] = bigger  # a real need: their use grows into it
            else:
                p.aware[i] = False  # they believe it fits
                if week.walk_cap:  # no price walking: no more than a new customer pays for their need
                    bigger = min(bigger, max(p.fit[i], ONE))
            p.tariff[i] = bigger
    return given_up


@rule(inline="always")
def find_out(p, i, week, work, c):
    """Paying above one's need, a customer may find out (a bill shock, a friend's remark, a rival's advert, or the
    firm's annual notice where the regulator asks for one): felt as a loss, perhaps voiced (a listening firm moves
    them to the tariff that fits) or acted on (they move to it themselves), and remembered."""
    cfg, offer, counted = week.cfg, week.offer, work.counted
    f, segment, who = p.firm[i], p.segment[i], p.identity[i]
    if not p.tariff[i] > p.fit[i] + f32(1e-3):
        p.aware[i] = False  # nothing to find out
        return
    if p.aware[i]:
        return
    notice = week.notices and p.tenure[i] > 0 and p.tenure[i] % 52 == 0
    if not (notice or die32(week.keys[Decision.DISCOVERY, 0], who) < f32(cfg.discovery)):
        return
    record(p, i, Happened.FOUND_OUT)
    counted[c, Count.DISCOVERIES, f, segment] += 1
    p.aware[i] = True
    regret = f32(cfg.loss_aversion) * -(offer[f].list_price * (p.tariff[i] - p.fit[i]))
    regret = forgive(f32(cfg.surprise_gain) * regret, p.bond[i], cfg)
    u_voice, u_heard = die32(week.keys[Decision.DISCOVERY, 2], who), die32(week.keys[Decision.DISCOVERY, 3], who)
    regret, hurt, voiced, handled = complain(p, i, regret, p.bond[i], u_voice, u_heard, week)
    counted[c, Count.PROBLEMS, f, segment] += hurt
    counted[c, Count.COMPLAINTS, f, segment] += voiced
    counted[c, Count.COMPLAINTS_HANDLED, f, segment] += handled
    if handled:
        count_kept(p, i, f, HANDLED_ROW, work, c)
    if voiced:  # a complaint is a call, and failure demand
        record(p, i, Happened.CALLED)
        counted[c, Count.CONTACTS, f, segment] += 1
        count_kept(p, i, f, CONTACTS_ROW, work, c)
        counted[c, Count.FAILURE_CONTACTS, f, segment] += 1
    if handled or die32(week.keys[Decision.DISCOVERY, 1], who) < f32(cfg.advice_uptake):
        counted[c, Count.REFITS, f, segment] += 1
        p.tariff[i] = p.fit[i]
        record(p, i, Happened.MOVED_TO_FIT)
    p.bond[i] -= f32(cfg.frustration_bond) * max(-regret, ZERO)
    p.bond[i] = clip01(p.bond[i])
    remember(p, i, regret, cfg, True)
    if abs(regret) > abs(p.feeling[i]):
        p.feeling[i] = regret


@rule(inline="always")
def judge_value(p, i, rem, week):
    """Loyalty is logical: the rational value (quality for price) of one's own firm minus that of the best
    alternative, buying nothing included (the value margin)."""
    cfg, offer = week.cfg, week.offer
    own = p.firm[i]
    sensitivity = p.price_sensitivity[i] * week.price_sensitivity
    weight = f32(cfg.quality_weight)
    best_other = f32(week.market.outside_utility)
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


@rule(inline="always")
def classify(p, i, week, margin_known=False):
    """Read the ladder state off the two attitudes and the memory: loyal by value, devoted by bond, detractor
    by memory (later rules override earlier ones); a non-buyer is defected while holding a grudge.

    ``margin_known``: nothing the value margin depends on has changed since it was last computed (this week,
    for a customer who neither heard word of mouth nor moved); it is the same number, so it is kept."""
    cfg = week.cfg
    if p.firm[i] < week.offer.shape[0] - 1:
        rem = remembered(p, i, cfg)
        margin = p.value_margin[i] if margin_known else judge_value(p, i, rem, week)
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


@rule(inline="always")
def decide_to_talk(p, i, rem, u, week):
    """Whether a buyer talks about the firm this week (``u``: the die), and the sign of the word (0: silent).

    By ladder state (``week.talk_chance``: per state), or after a strong experience (then the word is about it)."""
    cfg = week.cfg
    talkative = p.talkativeness[i]
    state_chance = min(week.talk_chance[p.state[i]] * talkative, ONE)
    strong = abs(p.feeling[i]) > f32(cfg.talk_threshold)
    event_chance = min((f32(cfg.talk_event) if strong else ZERO) * talkative, ONE)
    talks = (u < event_chance + (ONE - event_chance) * state_chance) & (p.firm[i] < p.heard.shape[1])
    sign = 0
    if talks:
        state = p.state[i]
        if u < event_chance:
            sign = sign_of(p.feeling[i])
        elif state == Ladder.DEVOTED or state == Ladder.LOYAL:
            sign = 1
        elif state == Ladder.DETRACTOR:
            sign = -1
        else:
            sign = sign_of(rem)
    if sign > 0:
        record(p, i, Happened.PRAISED)
    elif sign < 0:
        record(p, i, Happened.CRITICISED)
    return sign


@rule(inline="always")
def vent(p, i, u, cfg):
    """Whoever left a firm unhappy, buying elsewhere or nowhere, may talk against it (``u``: the die)."""
    chance = f32(cfg.talk_defected) * p.grudge[i] * p.talkativeness[i]
    holds = (p.grudge[i] > 0) & (p.grudge_firm[i] < p.heard.shape[1])
    venting = holds & (u < chance)
    if venting:
        record(p, i, Happened.VENTED)
    return venting


@njit(cache=True, _nrt=False, inline="always")
def utilities(p, i, full, week):
    """Full utility of each firm and of buying nothing (the last entry), into ``full``: quality for price as the
    customer perceives them, plus the bond and trust for one's own firm, less the cost of switching."""
    cfg, market, offer = week.cfg, week.market, week.offer
    n_firms, own = offer.shape[0] - 1, p.firm[i]
    has = own < n_firms
    sensitivity = p.price_sensitivity[i] * week.price_sensitivity
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
def discount_decided(p, i, joined, full, gumbel, week):
    """Would the joiner have chosen otherwise at the firm's list price, with the same random draws?"""
    offer = week.offer
    gap = offer[joined].list_price - offer[joined].deal_price
    sensitivity = p.price_sensitivity[i] * week.price_sensitivity
    best, best_utility = 0, -np.inf
    for j in range(full.shape[0]):
        # At list price (the discount's worth more) for the firm joined, in float32 as the utilities; the same noise.
        utility = (full[j] - sensitivity * gap) + gumbel[j] if j == joined else full[j] + gumbel[j]
        if utility > best_utility:
            best, best_utility = j, utility
    return best != joined


@rule(inline="always")
def bond_with_community(p, i, week, devoted, ties, devoted_ties):
    """Devoted neighbours at the same firm (with random mixing: devoted customers anywhere) strengthen one's bond.

    ``devoted``: devoted customers per firm; ``devoted_ties[i, f]``: i's ties devoted to firm f."""
    f = p.firm[i]
    community = 0.0
    if f < p.heard.shape[1]:
        if ties.mixed:
            community = devoted[f] / p.firm.shape[0]
        else:
            n_devoted = f32(devoted_ties[i, f])
            community = np.float64(n_devoted) / np.float64(max(ties.indptr[i + 1] - ties.indptr[i], 1))
    gain = np.float64(f32(week.cfg.community_bond)) * community * np.float64(p.bonding[i])
    p.bond[i] = clip01(p.bond[i] + f32(gain))


@rule(inline="always")
def see_ad(p, i, u_seen, u_whose, week):
    """At most one ad a week, from a firm drawn by ad weight (F: none seen)."""
    n_firms = p.heard.shape[1]
    ad = n_firms
    if np.float64(u_seen) < week.ad_limit:
        u = np.float64(u_whose)
        ad = 0
        while ad < n_firms and week.ad_cumulative[ad] <= u:  # searchsorted, side="right"
            ad += 1
        ad = min(ad, n_firms - 1)
        record(p, i, Happened.SAW_AD)
    return ad


@rule(inline="always")
def reconsider(p, i, ad, u_review, week):
    """Whether one looks at the market this week: a customer's hazard grows with restlessness, bad memories,
    alarms and rivals' ads; a prospect looks unprompted, after an ad or after a referral."""
    cfg, n_firms, f = week.cfg, p.heard.shape[1], p.firm[i]
    if f < n_firms:
        rival_ad = ad < n_firms and ad != f
        base = f32(cfg.review_rate) + f32(cfg.dissatisfied_review) * max(-remembered(p, i, cfg), ZERO)
        hazard = np.float64(base) + cfg.negative_wom_review * (1.0 if p.alarmed[i] else 0.0)
        hazard = np.float64(p.restlessness[i]) * (hazard + cfg.ad_prompt * (1.0 if rival_ad else 0.0))
        if p.by_referral[i]:  # a friend's recommendation holds longer
            hazard = hazard * cfg.referred_restlessness
    else:
        hazard = cfg.prospect_consider + cfg.ad_prompt * (1.0 if ad < n_firms else 0.0)
        hazard = hazard + cfg.referral_uptake * (1.0 if p.referred[i] < n_firms else 0.0)
    looks = np.float64(u_review) < hazard
    if looks:
        record(p, i, Happened.LOOKED)
    return looks


@rule(inline="always")
def leave(p, i, old, chosen, week, fresh, counted, c):
    """Leaving firm ``old`` for ``chosen`` (F: none): an unhappy leaver keeps a grudge; quitting for no firm ends the
    relationship."""
    segment = p.segment[i]
    counted[c, Count.DEFECTIONS, old, segment] += 1
    if chosen < p.heard.shape[1]:
        counted[c, Count.SWITCHES, old, segment] += 1
    record(p, i, Happened.LEFT_FIRM)
    rem = remembered(p, i, week.cfg)
    if rem < 0:
        p.grudge_firm[i] = old
        p.grudge[i] = min(-rem, ONE)
        record(p, i, Happened.LEFT_UNHAPPY)
    if chosen == p.heard.shape[1]:  # quitting for no firm ends the relationship
        renew(fresh.quitting, i)


@rule(inline="always")
def join(p, i, chosen, ad, full, gumbel, week, fresh, counted, c):
    """Joining firm ``chosen``: what prompted the look, whether a discount decided it; a fresh relationship,
    expecting what the firm claims and what was heard of it, and no grudge against the firm one rejoins."""
    market, offer = week.market, week.offer
    segment = p.segment[i]
    record(p, i, Happened.JOINED)
    if p.referred[i] == chosen:  # praise of the firm heard this week
        counted[c, Count.ACQUIRED_REFERRAL, chosen, segment] += 1
        record(p, i, Happened.JOINED_BY_REFERRAL)
    elif ad == chosen:  # its ad seen this week
        counted[c, Count.ACQUIRED_ADVERTISING, chosen, segment] += 1
        record(p, i, Happened.JOINED_BY_AD)
    else:
        counted[c, Count.ACQUIRED_ORGANIC, chosen, segment] += 1
    on_discount = offer[chosen].discount > 0
    if on_discount:
        counted[c, Count.ACQUIRED_ON_DISCOUNT, chosen, segment] += 1
        record(p, i, Happened.TOOK_DISCOUNT)
        if discount_decided(p, i, chosen, full, gumbel, week):
            counted[c, Count.ACQUIRED_BY_DISCOUNT, chosen, segment] += 1
            record(p, i, Happened.DISCOUNT_DECIDED)
    believed = f32(market.prior_quality) + f32(market.ad_claim_weight) * f32(offer[chosen].claims)
    believed = believed + p.heard[i, chosen]
    renew(fresh.joining, i)
    p.expectation[i] = clip01(believed)
    p.heard[i, chosen] = ZERO  # what was heard of the firm is now the expectation of it
    if p.grudge_firm[i] == chosen:  # no grudge against the firm one rejoins
        p.grudge_firm[i] = p.heard.shape[1]
        p.grudge[i] = ZERO
    p.joined_week[i] = week.number
    p.tariff[i] = max(p.fit[i], ONE)  # the standard tariff, or the one that meets a need grown beyond it
    p.discount_left[i] = market.discount_weeks if on_discount else 0
    p.by_referral[i] = p.referred[i] == chosen


@rule(inline="always")
def pay(p, i, f, week, work):
    """The customer pays the tariff at the firm's price, less any running discount (given, and recorded); a
    devoted customer spends a little more with the firm."""
    offer, cfg = week.offer, week.cfg
    price = f32(offer[f].price) * p.tariff[i]
    if cfg.devoted_premium != 0 and p.state[i] == Ladder.DEVOTED:
        price = price * (ONE + f32(cfg.devoted_premium))
    if p.discount_left[i] > 0:
        discount = f32(offer[f].discount)
        work.discounted[i] = price * discount
        price = price * (ONE - discount)
    work.paid[i] = price


# -------------------------------------------------------------------------------------------- word of mouth
@njit(cache=True, _nrt=False, inline="always")
def word(about, praise, defended):
    """A word's code: the firm it is about, whether it is praise, whether it answers criticism (a defense)."""
    return about * 4 + (2 if praise else 0) + (1 if defended else 0)


@njit(cache=True, _nrt=False, inline="always")
def word_about(code):
    return code >> 2


@njit(cache=True, _nrt=False, inline="always")
def word_is_praise(code):
    return (code >> 1) & 1


@njit(cache=True, _nrt=False, inline="always")
def word_is_defense(code):
    return code & 1


@njit(cache=True, _nrt=False, inline="always")
def random_tie(s, u, n, ties):
    """One of ``s``'s ties, chosen by the float32 die ``u`` (-1 if none); with random mixing, anyone."""
    if ties.mixed:
        return min(np.int64(u * f32(n)), n - 1)
    start = ties.indptr[s]
    degree = ties.indptr[s + 1] - start
    if degree == 0:
        return -1
    return ties.indices[start + min(np.int64(np.float64(u) * np.float64(degree)), degree - 1)]


@rule(inline="always")
def defend(listener, about, sign, devoted_at):
    """A devoted customer of the firm criticised shrugs the criticism off and answers back."""
    return sign < 0 and listener >= 0 and devoted_at[listener] == about


@njit(cache=True, _nrt=False, inline="always")
def address(listener, speaker, about, sign, devoted_at, words, k):
    """Word ``k`` of the list, about a firm, is addressed to a listener (-1: nobody); a defended word goes back to
    its speaker as praise, and its defender is noted."""
    defended = defend(listener, about, sign, devoted_at)
    words.recipient[k] = speaker if defended else listener
    words.code[k] = word(about, defended or sign > 0, defended)
    words.defender[k] = listener if defended else -1
    return k + 1


@njit(cache=True, nogil=True, _nrt=False)
def count_words(p, week, speakers, venters, sizes, chunk, first, last, worker):
    """How many people each chunk of words (``speakers`` then ``venters``) may reach: a tie, and ``broadcast_size``
    people more for a word broadcast (``sizes[c]``, to place each chunk's words in one list)."""
    m, n_speakers = speakers.shape[0] + venters.shape[0], speakers.shape[0]
    for c in range(first, last):
        total = 0
        for w in range(c * chunk, min((c + 1) * chunk, m)):
            s, dice = (speakers[w], Decision.WOM) if w < n_speakers else (venters[w - n_speakers], Decision.VENT)
            broadcast = die32(week.keys[dice, 2], p.identity[s]) < week.reach
            total += 1 + (week.market.broadcast_size if broadcast else 0)
        sizes[c] = total


@rule(nogil=True)
def spread_word_of_mouth(p, week, words, ties, work, chunk, first, last, worker):
    """Each word goes to one tie and, with probability ``reach``, to ``broadcast_size`` people drawn at random;
    words to oneself are dropped. Chunk c of the words (``speakers`` then ``venters``) addresses its words from
    ``offsets[c]`` on, in order (``address``)."""
    n, n_speakers = p.firm.shape[0], words.speakers.shape[0]
    m = n_speakers + words.venters.shape[0]
    for c in range(first, last):
        k = words.offsets[c]
        for w in range(c * chunk, min((c + 1) * chunk, m)):
            if w < n_speakers:  # talk about one's firm
                s = words.speakers[w]
                about, sign, dice, broadcast = p.firm[s], work.said[s], Decision.WOM, Decision.BROADCAST
            else:  # venting against a firm one left unhappy
                s = words.venters[w - n_speakers]
                about, sign, dice, broadcast = p.grudge_firm[s], -1, Decision.VENT, Decision.VENT_BROADCAST
            who = p.identity[s]
            listener = random_tie(s, die32(week.keys[dice, 1], who), n, ties)
            listener = listener if listener != s else -1
            k = address(listener, s, about, sign, work.devoted_at, words, k)
            if die32(week.keys[dice, 2], who) < week.reach:
                for b in range(week.market.broadcast_size):
                    listener = np.int64(die64(week.keys[broadcast, b], who) * n)
                    k = address(listener if listener != s else -1, s, about, sign, work.devoted_at, words, k)


@rule(nogil=True)
def hear(p, words, work, lists, first, last, worker):
    """The words reach their listeners: each thread goes through all addressed words and takes those of the
    customers of its chunks ``first..last-1``, counted per listener (``work.heard_now[i, 0]``: praise by firm,
    ``[i, 1]``: criticism), so their order does not matter; it lists its listeners once each; and a defender of
    its own notes the defense."""
    counted, heard_now = work.counted, work.heard_now
    lo, hi = first * lists.chunk, min(last * lists.chunk, heard_now.shape[0])
    n_listeners = 0
    out = lists.listeners.who[lo:]
    for k in range(words.recipient.shape[0]):
        defender = words.defender[k]
        if lo <= defender < hi:
            record(p, defender, Happened.DEFENDED)
        listener = words.recipient[k]
        if not (lo <= listener < hi):  # nobody, or another thread's listener
            continue
        code = words.code[k]
        about, praise = word_about(code), word_is_praise(code)
        if word_is_defense(code):
            counted[first, Count.DEFENSES, about, 0] += 1
            counted[first, Count.WOM_POSITIVE, about, 0] += 1
        if heard_now[listener].sum() == 0:  # a first word this week
            out[n_listeners] = listener
            n_listeners += 1
        if praise:
            counted[first, Count.HEARD_POSITIVE, about, 0] += 1
        else:
            counted[first, Count.HEARD_NEGATIVE, about, 0] += 1
        heard_now[listener, 1 - praise, about] += 1
    lists.listeners.count[first:last] = 0
    lists.listeners.count[first] = n_listeners


@rule(nogil=True)
def take_in_word_of_mouth(p, week, listeners, work, chunk, first, last, worker):
    """What each listener heard this week joins what they heard before; the most praised firm is a referral,
    criticism of one's own firm an alarm. (``work.changed``: their value margin is to be computed anew.)"""
    market = week.market
    n_firms = p.heard.shape[1]
    m = listeners.shape[0]
    for c in range(first, last):
        for k in range(c * chunk, min((c + 1) * chunk, m)):
            i = np.uint64(listeners[k])
            praise, criticism = work.heard_now[i, 0], work.heard_now[i, 1]
            best, criticised = 0, False
            for j in range(n_firms):
                p.heard[i, j] += f32(praise[j]) * f32(market.wom_weight) - f32(criticism[j]) * f32(
                    market.wom_weight * market.negativity
                )
                if praise[j] > praise[best]:
                    best = j
                criticised = criticised or criticism[j] > 0
            if praise[best] > 0:
                p.referred[i] = best
                record(p, i, Happened.HEARD_PRAISE)
            if criticised:
                record(p, i, Happened.HEARD_CRITICISM)
            own = p.firm[i]
            if own < n_firms and criticism[own] > 0:
                p.alarmed[i] = True
            work.heard_now[i] = 0
            work.changed[i] = True


# ------------------------------------------------------------------------------------------ the week's passes
# Each kernel runs over chunks ``first..last-1`` (``over_chunks`` gives each thread whole chunks).
LEAVES, HIT = 1, 2  # this week's life events of a customer (``work.flags``): leaves the market, has an incident


@njit(cache=True, _nrt=False, inline="always")
def chunk_span(c, n, chunk):
    """Customers lo..hi-1 of chunk c, as unsigned indices: never negative, so no wraparound test at every access."""
    lo = np.uint64(c) * np.uint64(chunk)
    return lo, min(lo + np.uint64(chunk), np.uint64(n))


@njit(cache=True, _nrt=False, inline="always")
def roll(key, identity, out):
    """Every customer's die of one kind, into ``out[:len(identity)]`` (a loop the compiler turns into vector
    instructions: rolling a die for everyone is cheaper than deciding who needs one)."""
    for k in range(identity.shape[0]):
        out[k] = die32(key, identity[k])


@njit(cache=True, nogil=True, _nrt=False)
def foresee_incidents(p, week, lists, work, first, last, worker):
    """Who leaves the market this week, and who has a service incident: buyers who stay and whose die says so (a
    few; their experience noise is drawn by scipy before the week's main pass). ``work.flags``: LEAVES, HIT."""
    n, n_firms, chunk = p.firm.shape[0], week.offer.shape[0] - 1, lists.chunk
    u_turnover, u_incident = work.rolls.turnover[worker], work.rolls.incident[worker]
    hits = lists.hits
    for c in range(first, last):
        lo, hi = chunk_span(c, n, chunk)
        ids, firm, flags = p.identity[lo:hi], p.firm[lo:hi], work.flags[lo:hi]
        roll(week.keys[Decision.TURNOVER, 0], ids, u_turnover)
        roll(week.keys[Decision.INCIDENTS, 0], ids, u_incident)
        for k in range(flags.shape[0]):
            flags[k] = LEAVES if u_turnover[k] < f32(week.cfg.turnover) else 0
        for j in range(n_firms):  # firm by firm: the same chance for all its customers
            chance = week.offer[j].incident_chance
            for k in range(flags.shape[0]):
                hit = (firm[k] == j) & (u_incident[k] < chance) & (flags[k] == 0)
                flags[k] |= HIT if hit else 0
        n_hits = 0
        for i in range(lo, hi):
            if work.flags[i] & HIT:
                hits.who[c * chunk + n_hits] = i
                n_hits += 1
        hits.count[c] = n_hits


@njit(cache=True, nogil=True, _nrt=False)
def live_the_week(p, week, fresh, lists, work, first, last, worker):
    """Every customer's week up to word of mouth: turnover, fading, a service incident (``work.flags``,
    ``lists.hits`` from ``foresee_incidents``; ``work.noise``, ``work.experienced`` per hit), promises and offers,
    the ladder, and whether one talks about one's firm or vents against a firm one left. Lists who left, was
    advised, talks, vents, and whose devotion (``work.devoted_at``: the firm one is devoted to, or -1) changed
    (``converts``; before: ``work.was_devoted_at``)."""
    n, n_firms, chunk, counted = p.firm.shape[0], week.offer.shape[0] - 1, lists.chunk, work.counted
    u_advice, u_contact = work.rolls.advice[worker], work.rolls.contact[worker]
    u_talk, u_vent = work.rolls.talk[worker], work.rolls.vent[worker]
    h = 0  # the first incident of chunk ``first`` in the list of hits
    for c in range(first):
        h += lists.hits.count[c]
    for c in range(first, last):
        lo, hi = chunk_span(c, n, chunk)
        base = c * chunk  # of the chunk's events in each list
        n_left, n_advised, n_speakers, n_venters, n_converts = 0, 0, 0, 0, 0
        for i in range(lo, hi):  # life events
            p.happened[i] = 0  # a new week's record
            if work.flags[i] & LEAVES:
                turn_over(p, i, fresh.leaving, counted, c)
                lists.leavers.who[base + n_left] = i
                n_left += 1
        fade(p, lo, hi, week)
        feeling, complaint, alarmed = p.feeling[lo:hi], p.complaint[lo:hi], p.alarmed[lo:hi]
        for k in range(feeling.shape[0]):  # this week's observations start afresh
            feeling[k] = ZERO
            complaint[k] = Complaint.NONE
            alarmed[k] = False
        ids = p.identity[lo:hi]
        roll(week.keys[Decision.OFFERS, 0], ids, u_advice)
        roll(week.keys[Decision.OFFERS, 1], ids, u_contact)
        roll(week.keys[Decision.WOM, 0], ids, u_talk)
        roll(week.keys[Decision.VENT, 0], ids, u_vent)
        for i in range(lo, hi):
            k = i - lo
            if work.flags[i] & HIT:
                work.experienced[h] = experience_service(p, i, work.noise[h], week, work, c)
                h += 1
            f = p.firm[i]
            if f < n_firms:
                believe_promises(p, i, week)
                given_up = receive_offers(p, i, u_advice[k], u_contact[k], week, counted, c)
                if given_up >= 0:
                    work.given_up[i] = given_up
                    lists.advised.who[base + n_advised] = i
                    n_advised += 1
                find_out(p, i, week, work, c)
            classify(p, i, week)
            devoted = f if p.state[i] == Ladder.DEVOTED else -1
            if devoted != work.devoted_at[i]:
                work.was_devoted_at[i] = work.devoted_at[i]
                work.devoted_at[i] = devoted
                lists.converts.who[base + n_converts] = i
                n_converts += 1
            rem = remembered(p, i, week.cfg)
            sign = decide_to_talk(p, i, rem, u_talk[k], week)
            work.said[i] = sign
            if sign != 0:
                counted[c, Count.WOM_POSITIVE if sign > 0 else Count.WOM_NEGATIVE, f, p.segment[i]] += 1
                lists.speakers.who[base + n_speakers] = i
                n_speakers += 1
            venting = vent(p, i, u_vent[k], week.cfg)
            if venting:
                counted[c, Count.WOM_NEGATIVE, p.grudge_firm[i], p.segment[i]] += 1
                lists.venters.who[base + n_venters] = i
                n_venters += 1
            p.spoke[i] = sign != 0 or venting
            p.spoke_feeling[i] = rem
            p.referred[i] = n_firms  # set again by what is heard this week
        lists.leavers.count[c] = n_left
        lists.advised.count[c] = n_advised
        lists.speakers.count[c] = n_speakers
        lists.venters.count[c] = n_venters
        lists.converts.count[c] = n_converts


@njit(cache=True, nogil=True, _nrt=False)
def count_devoted_ties(converts, work, ties, chunk, first, last, worker):
    """Keep ``work.devoted_ties[i, f]``, the number of i's ties devoted to firm f, up to date: each customer whose
    devotion changed this week tells their ties (a tie is mutual); here only the ties among the customers of
    chunks ``first..last-1`` (each thread goes through every change and keeps its own customers' ties)."""
    devoted_ties = work.devoted_ties
    lo, hi = first * chunk, min(last * chunk, devoted_ties.shape[0])
    for k in range(converts.shape[0]):
        d = converts[k]
        before, now = work.was_devoted_at[d], work.devoted_at[d]
        for t in range(ties.indptr[d], ties.indptr[d + 1]):
            tie = ties.indices[t]
            if not (lo <= tie < hi):
                continue
            if before >= 0:
                devoted_ties[tie, before] -= 1
            if now >= 0:
                devoted_ties[tie, now] += 1


@njit(cache=True, nogil=True, _nrt=False)
def look_around(p, week, ties, devoted, lists, work, first, last, worker):
    """Community bonds, then who looks at the market: the ad one sees and whether one reconsiders (``lookers``)."""
    n, chunk = p.firm.shape[0], lists.chunk
    u_seen, u_whose, u_review = work.rolls.ad_seen[worker], work.rolls.ad_whose[worker], work.rolls.review[worker]
    for c in range(first, last):
        lo, hi = chunk_span(c, n, chunk)
        n_lookers = 0
        ids = p.identity[lo:hi]
        roll(week.keys[Decision.ADVERTISING, 0], ids, u_seen)
        roll(week.keys[Decision.ADVERTISING, 1], ids, u_whose)
        roll(week.keys[Decision.REVIEW, 0], ids, u_review)
        for i in range(lo, hi):
            k = i - lo
            if week.community:
                bond_with_community(p, i, week, devoted, ties, work.devoted_ties)
            ad = see_ad(p, i, u_seen[k], u_whose[k], week)
            work.ad_firm[i] = ad
            if reconsider(p, i, ad, u_review[k], week):
                lists.lookers.who[c * chunk + n_lookers] = i
                n_lookers += 1
        lists.lookers.count[c] = n_lookers


@rule(nogil=True)
def choose_supplier(p, week, fresh, choices, work, first, last, worker):
    """Those who look pick by logit among available firms and buying nothing (``choices.gumbel``: their noise),
    then leave and join. (``work.changed``: movers' value margins are to be computed anew.) The lookers come in
    ``choices.utility.shape[0]`` equal parts (one per thread: they are few), parts ``first..last-1`` here, each
    with its working row of utilities."""
    n_firms = week.offer.shape[0] - 1
    lookers, gumbel = choices.lookers, choices.gumbel
    m, parts = lookers.shape[0], choices.utility.shape[0]
    for c in range(first, last):
        full = choices.utility[c]
        for k in range(m * c // parts, m * (c + 1) // parts):
            i = np.uint64(lookers[k])
            utilities(p, i, full, week)
            chosen, best = 0, -np.inf
            for j in range(n_firms + 1):
                if np.float64(full[j]) + gumbel[k, j] > best:
                    chosen, best = j, np.float64(full[j]) + gumbel[k, j]
            old = p.firm[i]
            if chosen == old:
                continue
            if old < n_firms:
                leave(p, i, old, chosen, week, fresh, work.counted, c)
            if chosen < n_firms:
                join(p, i, chosen, work.ad_firm[i], full, gumbel[k], week, fresh, work.counted, c)
            p.firm[i] = chosen
            work.changed[i] = True


@njit(cache=True, nogil=True, _nrt=False)
def end_week(p, week, work, books, chunk, first, last, worker):
    """The ladder once more (the value margin kept unless ``work.changed``: only word of mouth and moving change it
    within a week), what each customer pays, and the census: everyone by firm (the defected: the firm they left),
    segment and ladder state. Lists each firm's paying customers for ``sum_payments``."""
    n, n_firms = p.firm.shape[0], np.uint64(week.offer.shape[0] - 1)
    for c in range(first, last):
        lo, hi = chunk_span(c, n, chunk)
        listed, stock, held = books.payers[:, c * chunk :], books.stocks[c], books.grudges[c]
        paying, customers = books.paying[c], work.counted[c, Count.CUSTOMERS]
        for i in range(lo, hi):
            classify(p, i, week, not work.changed[i])
            work.changed[i] = False
            # As unsigned numbers (never negative), so indexing needs no wraparound test.
            f, state, segment = np.uint64(p.firm[i]), np.uint64(p.state[i]), np.uint64(p.segment[i])
            left = np.uint64(p.grudge_firm[i])
            stock[left if state == np.uint64(Ladder.DEFECTED) else f, segment, state] += 1
            if p.grudge[i] > 0:
                held[left] += 1
            if f < n_firms:
                pay(p, i, f, week, work)
                listed[f, paying[f]] = i
                paying[f] += 1
                customers[f, segment] += 1
                count_kept(p, i, f, CUSTOMERS_ROW, work, c)


@njit(cache=True, nogil=True, _nrt=False)
def sum_payments(p, work, books, chunk, first, last, worker):
    """The week's sums, in customer order: each firm's paying customers one after another, in float64. Jobs
    ``first..last-1`` of 2 x F: each firm's revenue (in all, by segment, by tenure year and cohort), then each firm's
    discounts given (in all, by tenure year and cohort), bond, trust and tariff (two threads: one each, about equal
    work)."""
    n_firms, n_cohorts = books.money.shape[1], books.money_by_cohort.shape[2]
    for job in range(first, last):
        f = job % n_firms
        row = 0 if job < n_firms else 1  # in BY_TENURE_MONEY: revenue, discounts
        by_tenure, by_cohort = books.money_by_tenure[row, f], books.money_by_cohort[row, f]
        revenue, discounts, bond, trust, tariff = 0.0, 0.0, 0.0, 0.0, 0.0  # one firm's, kept in registers
        for c in range(books.paying.shape[0]):
            listed = books.payers[f, c * chunk : c * chunk + books.paying[c, f]]
            if job < n_firms:
                for k in range(listed.shape[0]):
                    i = np.uint64(listed[k])
                    paid = np.float64(work.paid[i])
                    revenue += paid
                    books.revenue_by_segment[f, p.segment[i]] += paid
                    tenure, cohort = buckets(p, i, n_cohorts)
                    by_tenure[tenure] += paid
                    by_cohort[cohort] += paid
            else:
                for k in range(listed.shape[0]):
                    i = np.uint64(listed[k])
                    if p.discount_left[i] > 0:
                        discount = np.float64(work.discounted[i])
                        discounts += discount
                        tenure, cohort = buckets(p, i, n_cohorts)
                        by_tenure[tenure] += discount
                        by_cohort[cohort] += discount
                    bond += np.float64(p.bond[i])
                    trust += np.float64(p.trust[i])
                    tariff += np.float64(p.tariff[i])
        if job < n_firms:
            books.money[0, f] = revenue
        else:
            books.money[1, f] = discounts
            books.attitudes[0, f], books.attitudes[1, f], books.attitudes[2, f] = bond, trust, tariff


@njit(cache=True, nogil=True, _nrt=False)
def census(p, stocks, grudges, chunk, first, last, worker):
    """Everyone by firm (the defected: the firm they left), segment and ladder state; grudges held per firm."""
    n = p.firm.shape[0]
    for c in range(first, last):
        lo, hi = chunk_span(c, n, chunk)
        for i in range(lo, hi):
            state = p.state[i]
            stocks[c, p.grudge_firm[i] if state == Ladder.DEFECTED else p.firm[i], p.segment[i], state] += 1
            if p.grudge[i] > 0:
                grudges[c, p.grudge_firm[i]] += 1


@njit(cache=True, nogil=True, _nrt=False)
def classify_everyone(p, week, chunk, first, last, worker):
    n = p.firm.shape[0]
    for c in range(first, last):
        lo, hi = chunk_span(c, n, chunk)
        for i in range(lo, hi):
            classify(p, i, week)


# Sums of float values: one customer after another, in customer order, on one thread, as the reference adds them.
@njit(cache=True, _nrt=False)
def sum_by_firm(who, firm, values, out):
    """``out[firm[who[k]]] += values[k]``, k = 0, 1, ... (entries for no firm dropped)."""
    for k in range(who.shape[0]):
        f = firm[who[k]]
        if f < out.shape[0]:
            out[f] += np.float64(values[k])


@njit(cache=True)
def gather(events, chunk):
    """A list of events, per chunk, as one array in chunk (customer) order."""
    out = np.empty(events.count.sum(), np.int64)
    k = 0
    for c in range(events.count.shape[0]):
        out[k : k + events.count[c]] = events.who[c * chunk : c * chunk + events.count[c]]
        k += events.count[c]
    return out


def chunks(size: int, chunk: int) -> int:
    """How many chunks ``size`` customers (or events) make."""
    return (size + chunk - 1) // chunk


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

    A ``sim.model.population.Population``. Threads: ``threads()`` (``NUMBA_NUM_THREADS``; all cores by default),
    fewer for a small population; ``chunk``: customers per unit of parallel work. The numbers depend on neither.
    """

    def __init__(
        self,
        cfg: CustomersConfig,
        market: MarketConfig,
        n_firms: int,
        initial_weights: np.ndarray,
        service: np.ndarray,
        streams: Streams,
        chunk: int = DEFAULT_CHUNK,
        n_cohorts: int = 1,
    ):
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, not {chunk}")
        self.n_cohorts = n_cohorts  # acquisition cohorts told apart (``vocabulary.cohorts``)
        self.notices = market.regulation is Regulation.NOTICES
        self.walk_cap = market.regulation is Regulation.NO_PRICE_WALKING
        self.cfg, self.market = cfg, market
        self.n, self.n_firms = cfg.n, n_firms
        self.no_firm = n_firms
        self.n_segments = len(cfg.segments.groups)
        self.chunk = chunk
        self.week = 0
        for name, values in fresh_arrays(cfg, n_firms, self.n).items():
            setattr(self, name, values)
        for name, values in draw_start(cfg, n_firms, initial_weights, service, streams.dice).items():
            getattr(self, name)[:] = values
        self.people = People(*(getattr(self, v.name) for v in STATE))
        newcomer = {v.name: fresh_value(v, cfg, n_firms) for v in STATE}
        self._fresh = Fresh(
            *(
                tuple((getattr(self, v.name), newcomer[v.name]) for v in variables)
                for variables in (FRESH_ON_LEAVING, FRESH_ON_QUITTING, FRESH_ON_JOINING)
            )
        )
        self._cfg, self._market = settings_record(cfg)[0], settings_record(market)[0]
        self._chunks = chunks(self.n, chunk)
        n = self.n
        self._lists = Lists(chunk, *(Events(np.empty(n, np.int32), np.zeros(self._chunks, np.int64)) for _ in LISTED))
        self._work = Work(
            rolls=None,  # each thread's rows of dice, this week's (``_rolls``)
            flags=np.zeros(n, np.uint8),
            noise=np.empty(0, f32),  # per incident, this week's
            experienced=np.empty(0, f32),
            given_up=np.zeros(n, f32),
            paid=np.zeros(n, f32),
            discounted=np.zeros(n, f32),
            said=np.zeros(n, np.int8),
            devoted_at=np.full(n, -1, np.int16),  # as of midweek
            was_devoted_at=np.full(n, -1, np.int16),
            devoted_ties=np.zeros((n, n_firms), np.int32),
            ad_firm=np.full(n, n_firms, np.int16),
            heard_now=np.zeros((n, 2, n_firms), np.int32),
            changed=np.zeros(n, bool),
            counted=np.zeros((0, len(Count), n_firms, self.n_segments), np.int64),  # this week's
            by_tenure=np.zeros((0, len(BY_TENURE), n_firms, TENURE_YEARS + 1), np.int64),
            by_cohort=np.zeros((0, len(BY_TENURE), n_firms, n_cohorts), np.int64),
        )
        self._payers = np.zeros((n_firms, n), np.int32)  # each firm's paying customers, listed per chunk
        self._rows = Rolls(*(np.zeros((0, chunk), f32) for _ in Rolls._fields))
        self._census: tuple[np.ndarray, np.ndarray] | None = None
        self._talk_chance = np.zeros(len(Ladder), f32)  # by ladder state; non-buyers do not talk of a firm
        self._talk_chance[[Ladder.DEVOTED, Ladder.LOYAL, Ladder.CUSTOMER, Ladder.DETRACTOR]] = (
            cfg.talk_devoted,
            cfg.talk_loyal,
            cfg.talk_customer,
            cfg.talk_detractor,
        )
        self._no_keys = np.zeros((len(Decision), 1), np.uint64)

    def _threads(self) -> int:
        """``threads()``, or fewer for a small population (waking a thread costs more than its share)."""
        return max(1, min(threads(), self._chunks // CHUNKS_PER_THREAD))

    def _run(self, kernel, n_chunks: int, *args) -> None:
        over_chunks(kernel, n_chunks, self._threads(), *args)

    def _rolls(self) -> Rolls:
        """Each thread's rows of dice, as many as threads this week."""
        if len(self._rows.turnover) < self._threads():
            self._rows = Rolls(*(np.zeros((self._threads(), self.chunk), f32) for _ in Rolls._fields))
        return self._rows

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
            self._run(census, self._chunks, self.people, stocks, grudges, self.chunk)
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

    def _week(self, number: int, offer: Offer, keys: np.ndarray, community: bool = False) -> Week:
        """What every rule reads this week."""
        n_firms = self.n_firms
        ads = np.where(offer.available[:n_firms], offer.advertising[:n_firms], 0)
        total = ads.sum()
        return Week(
            cfg=self._cfg,
            market=self._market,
            offer=self._offer(offer),
            price_sensitivity=f32(offer.price_sensitivity),
            keys=keys,
            talk_chance=self._talk_chance,
            reach=f32(offer.reach),
            number=number,
            community=community,
            ad_limit=float(min(1.0, self.market.ad_reach * total)),
            ad_cumulative=np.cumsum(ads) / total if total > 0 else np.ones(n_firms),
            notices=self.notices,
            walk_cap=self.walk_cap,
        )

    def classify(self, offer: Offer) -> None:
        """Read the ladder state off the two attitudes and the memory."""
        week = self._week(self.week, offer, self._no_keys)
        self._run(classify_everyone, self._chunks, self.people, week, self.chunk)
        self._census = None

    # ------------------------------------------------------------- the week
    def step(self, week: int, offer: Offer, net: SocialNetwork, streams: Streams) -> Tally:
        """One week in the life of every customer."""
        self.week = week
        p, n_firms, run, whole, chunk, lists = (
            self.people,
            self.n_firms,
            self._run,
            self._chunks,
            self.chunk,
            self._lists,
        )
        ties = Ties(net.mixed, net.indptr, net.indices)
        community = self.cfg.community_bond != 0 and (net.mixed or len(net.indices) > 0)
        keys = streams.dice.table(week, max(3, self.market.broadcast_size))
        this_week = self._week(week, offer, keys, community)
        counted = np.zeros((whole, len(Count), n_firms, self.n_segments), np.int64)
        by_tenure = np.zeros((whole, len(BY_TENURE), n_firms, TENURE_YEARS + 1), np.int64)
        by_cohort = np.zeros((whole, len(BY_TENURE), n_firms, self.n_cohorts), np.int64)
        work = self._work._replace(rolls=self._rolls(), counted=counted, by_tenure=by_tenure, by_cohort=by_cohort)
        summed = np.zeros((len(Count), n_firms))

        # Who leaves, who will have an incident; their experience noise is scipy's normal of their die, as in every
        # engine.
        run(foresee_incidents, whole, p, this_week, lists, work)
        hits = gather(lists.hits, chunk)
        noise = in_parts(
            lambda who: streams.dice.normal(Decision.EXPERIENCE, week, who).ravel(),
            self.identity[hits],
            self._threads(),
        )
        work = work._replace(noise=noise, experienced=np.empty(len(hits), f32))
        # The week up to word of mouth: turnover, fading, service, promises, offers, the ladder, who speaks.
        run(live_the_week, whole, p, this_week, self._fresh, lists, work)
        leavers = gather(lists.leavers, chunk)
        if len(leavers):  # newcomers are new people: their traits (numpy and scipy, as in every engine)
            for name, values in draw_traits(self.cfg, streams.dice, self.identity[leavers]).items():
                getattr(self, name)[leavers] = values
        sum_by_firm(hits, self.firm, work.experienced, summed[Count.EXPERIENCE_SUM])
        advised = gather(lists.advised, chunk)
        sum_by_firm(advised, self.firm, work.given_up[advised], summed[Count.ADVICE_VALUE])

        # Word of mouth: words addressed in parallel, then each thread takes those its customers hear, counted per
        # listener, then taken in.
        speakers, venters = gather(lists.speakers, chunk), gather(lists.venters, chunk)
        n_words = chunks(len(speakers) + len(venters), chunk)
        sizes = np.zeros(n_words + 1, np.int64)
        run(count_words, n_words, p, this_week, speakers, venters, sizes[1:], chunk)
        offsets = np.cumsum(sizes)
        addressed = offsets[-1]
        words = Words(
            speakers,
            venters,
            sizes,
            offsets,
            np.empty(addressed, np.int64),
            np.empty(addressed, np.int64),
            np.empty(addressed, np.int32),
        )
        run(spread_word_of_mouth, n_words, p, this_week, words, ties, work, chunk)
        run(hear, whole, p, words, work, lists)
        listeners = gather(lists.listeners, chunk)
        run(take_in_word_of_mouth, chunks(len(listeners), chunk), p, this_week, listeners, work, chunk)

        # Community, ads and who looks at the market; their choice (Gumbel noise by numpy, as in every engine).
        if community and not net.mixed:
            run(count_devoted_ties, whole, gather(lists.converts, chunk), work, ties, chunk)
        devoted = np.bincount(work.devoted_at + 1, minlength=n_firms + 1)[1:] if net.mixed else np.zeros(n_firms, int)
        run(look_around, whole, p, this_week, ties, devoted, lists, work)
        lookers = gather(lists.lookers, chunk)
        u = streams.dice.uniform64(Decision.CHOICE, week, self.identity[lookers], n_firms + 1)
        gumbel = in_parts(lambda u: -np.log(-np.log(u + 1e-12) + 1e-12), u, self._threads())
        parts = self._threads()
        choices = Choices(lookers, gumbel, np.empty((parts, n_firms + 1), f32))
        run(choose_supplier, parts, p, this_week, self._fresh, choices, work)

        # The ladder again, payment and the census; the sums of money and attitudes, in customer order.
        books = Books(
            stocks=np.zeros((whole, n_firms + 1, self.n_segments, len(Ladder)), np.int64),
            grudges=np.zeros((whole, n_firms + 1), np.int64),
            payers=self._payers,
            paying=np.zeros((whole, n_firms), np.int64),
            money=np.zeros((2, n_firms)),
            attitudes=np.zeros((3, n_firms)),
            revenue_by_segment=np.zeros((n_firms, self.n_segments)),
            money_by_tenure=np.zeros((len(BY_TENURE_MONEY), n_firms, TENURE_YEARS + 1)),
            money_by_cohort=np.zeros((len(BY_TENURE_MONEY), n_firms, self.n_cohorts)),
        )
        run(end_week, whole, p, this_week, work, books, chunk)
        self._census = books.stocks.sum(axis=0), books.grudges.sum(axis=0)
        # Each firm's customers in customer order (two threads: one the revenue, one the rest).
        over_chunks(sum_payments, 2 * n_firms, min(self._threads(), 2), p, work, books, chunk)
        summed[[Count.REVENUE, Count.DISCOUNT_GIVEN]] = books.money
        summed[[Count.BOND_SUM, Count.TRUST_SUM, Count.TARIFF_SUM]] = books.attitudes

        tally = Tally(n_firms, self.n_segments, self.n_cohorts)
        total_counts = counted.sum(axis=0)
        tally.counts[:] = total_counts.sum(axis=2) + summed
        tally.by_segment[:] = total_counts[list(BY_SEGMENT)]
        tally.by_segment[BY_SEGMENT.index(Count.REVENUE)] = books.revenue_by_segment
        kept = len(BY_TENURE)
        tally.by_tenure[:kept], tally.by_cohort[:kept] = by_tenure.sum(axis=0), by_cohort.sum(axis=0)
        tally.by_tenure[kept:], tally.by_cohort[kept:] = books.money_by_tenure, books.money_by_cohort
        return tally
