"""The customer population as Mesa agents: one ``Customer`` per person, on a Mesa ``Network``.

The readable reference: each rule of the model is a ``Customer`` method (``@rule``), named as in the ODD's
process overview and as the compiled engine's function that applies it (``sim.model.compiled``). Both hold the
state declared in ``sim.model.state`` and are docked (``tests/test_docking.py``): each customer's random numbers
are a function of who draws them, and both do the same arithmetic in the same number types (float32 state,
float64 where the compiled engine promotes), so they give identical results. It is slow, by design; choose it
with ``engine=agents``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np
from mesa.agent import AgentSet
from mesa.discrete_space import FixedAgent, Network

from ..config import CustomersConfig, MarketConfig, Regulation
from .draws import Decision, mix
from .network import SocialNetwork
from .state import (
    BY_NAME,
    FRESH_ON_JOINING,
    FRESH_ON_LEAVING,
    FRESH_ON_QUITTING,
    STATE,
    draw_start,
    draw_traits,
    fresh_scalar,
)
from .streams import Streams
from .vocabulary import (
    Channel,
    Complaint,
    Count,
    Happened,
    Ladder,
    Offer,
    Tally,
    acquired,
    census,
    cohort_of,
    tenure_year,
)

if TYPE_CHECKING:
    from .market import LoyaltyMarket

F32 = np.float32
ZERO = F32(0)


def clip01(x) -> np.float32:
    return F32(min(max(x, 0), 1))


def rule(method):
    """A rule of the model: the ODD names it, and the compiled engine has a function of the same name."""
    method.is_rule = True
    return method


class Customer(FixedAgent):
    """A person who may buy from one firm, remembers, feels, talks and sometimes switches."""

    def __init__(self, model: LoyaltyMarket, population: CustomerAgents, index: int, cell, start: dict):
        super().__init__(model)
        self.population, self.cfg, self.market = population, population.cfg, population.market
        self.index = index
        self.cell = cell
        self.renew(STATE)
        for name, value in start.items():
            self.set_state(name, value)
        self.praise = [0] * population.n_firms  # this week's word of mouth received, by firm
        self.criticism = [0] * population.n_firms
        self.ties: list[Customer] = []

    def renew(self, variables) -> None:
        """Set the declared ``variables`` to a newcomer's values."""
        for var in variables:
            setattr(self, var.name, fresh_scalar(var, self.cfg, self.population.n_firms))

    def set_state(self, name: str, value) -> None:
        """Set a state variable from an array element, in this engine's types (None for no firm)."""
        var = BY_NAME[name]
        if var.is_firm:
            value = None if value == self.population.n_firms else int(value)
        elif np.issubdtype(var.dtype, np.integer):
            value = int(value)
        else:
            value = var.dtype(value)
        setattr(self, name, value)

    def record(self, what: Happened) -> None:
        """This week, ``what`` happened to me."""
        self.happened |= what

    # ---------------------------------------------------------------- derived
    @property
    def remembered(self) -> np.float32:
        """Recency trace plus weighted peaks (peak-end)."""
        return self.recent + self.cfg.peak_weight * (self.peak_pos + self.peak_neg)

    @property
    def has_firm(self) -> bool:
        return self.firm is not None

    def _at(self, values: np.ndarray) -> np.float64:
        """A firm's entry of an ``Offer`` array for my firm (the "no firm" entry if I have none)."""
        return values[self.population.n_firms if self.firm is None else self.firm]

    def roll(self, decision: Decision, k: int = 1, wide: bool = False) -> np.ndarray:
        """My ``k`` dice for a decision this week (float64 if ``wide``): a function of who I am, nothing else."""
        population, me = self.population, np.array([self.identity], np.uint64)
        draw = population.streams.dice.uniform64 if wide else population.streams.dice.uniform
        return draw(decision, population.week, me, k)[0]

    def rolled(self, decision: Decision) -> np.ndarray:
        """My dice for a decision everyone rolls this week (rolled for all at once by the population)."""
        return self.population.rolls[decision][self.index]

    # ------------------------------------------------------------- the rules
    @rule
    def turn_over(self) -> None:
        """A life event may take me out of the market: a newcomer, someone new, takes my place, with no firm, no
        memories and a new identity (and traits to match, drawn by the population)."""
        self.happened = 0  # a new week's record
        if not self.rolled(Decision.TURNOVER)[0] < self.cfg.turnover:
            return
        self.population.tally.count(Count.DEPARTURES, self.firm, segment=self.segment)
        self.renew(FRESH_ON_LEAVING)
        self.identity = mix(self.identity)
        self.record(Happened.LEFT_MARKET)

    def take_traits(self, traits: dict) -> None:
        for name, value in traits.items():
            self.set_state(name, value)

    @rule
    def fade(self) -> None:
        """Memories, bonds, what I heard and grudges fade without renewal."""
        c, m = self.cfg, self.market
        self.recent *= F32(1 - c.memory_decay)
        self.peak_pos *= F32(1 - c.peak_decay)
        self.peak_neg *= F32(1 - c.peak_decay)
        self.bond *= F32(1 - c.bond_decay)
        self.heard *= F32(1 - m.wom_decay)
        self.grudge *= F32(1 - c.grudge_decay)
        if self.grudge < 0.02:
            self.grudge = ZERO
        self.trust += F32(c.trust_recovery) * (F32(c.trust_initial) - self.trust)
        if self.has_firm:
            self.tenure += 1
        self.discount_left = max(self.discount_left - 1, 0)

    @rule
    def remember(self, feeling: np.float32, peak: bool = True) -> None:
        """Every feeling enters the recency trace; a peak (a surprise, a gift, a voiced complaint) is remembered too."""
        self.recent += F32(self.cfg.memory_learning) * (feeling - self.recent)
        if peak:
            if feeling > self.peak_pos:
                self.peak_pos = feeling
                self.record(Happened.NEW_BEST)
            if feeling < self.peak_neg:
                self.peak_neg = feeling
                self.record(Happened.NEW_WORST)

    @rule
    def be_grateful(self) -> None:
        """Reciprocity: an unasked gift raises my bond, more so if I trust the firm."""
        c = self.cfg
        self.bond += F32(c.gratitude) * self.bonding * self.trust * (1 - self.bond)
        self.trust = min(self.trust + F32(c.gift_trust), F32(1))
        self.record(Happened.GRATEFUL)

    @rule
    def forgive(self, felt: np.float32) -> np.float32:
        """Devotion forgives: my bond damps a bad feeling."""
        if felt < 0:
            return felt * (1 - F32(self.cfg.forgiveness) * self.bond)
        return felt

    @rule
    def complain(
        self, felt: np.float32, u_voice: np.float32, u_heard: np.float32
    ) -> tuple[np.float32, bool, bool, bool]:
        """Voice before exit: hurt, I may speak up (more if bonded), and a listening firm makes it right (a faster
        firm more), while an ignored complaint hurts more (``u_voice``, ``u_heard``: my dice). My feeling, and
        whether I was hurt, complained and was heard."""
        c, offer, f = self.cfg, self.population.offer, self.firm
        hurt = felt < c.complaint_threshold  # a problem
        voiced = hurt and u_voice < min(F32(c.voice) * self.outspokenness * (0.5 + self.bond), F32(1))
        handled = voiced and u_heard < offer.listening[f]
        if handled:
            felt = felt + F32(c.recovery_gain) * F32(offer.speed[f])
        elif voiced:
            felt = felt - F32(c.ignored_penalty)
        if hurt:  # what became of this week's problem (a week without one keeps what it had)
            self.complaint = Complaint.HANDLED if handled else Complaint.IGNORED if voiced else Complaint.SILENT
        if voiced:
            self.record(Happened.COMPLAINED)
        return felt, hurt, voiced, handled

    @rule
    def see_through(self) -> bool:
        """Claims above acts are seen through, a little at every contact: I lose trust and bond."""
        c, offer, f = self.cfg, self.population.offer, self.firm
        gap = F32(max(offer.claims[f] - offer.acts[f], 0))
        detected = self.roll(Decision.DETECTION)[0] < F32(c.detection_rate) * gap
        if detected:
            self.trust = max(self.trust - F32(c.detection_trust_loss), ZERO)
            self.bond -= F32(c.detection_bond_loss)
            self.record(Happened.SAW_THROUGH)
        return detected

    @rule
    def experience_service(self) -> None:
        """I need service: how it is handled becomes a feeling, a memory, maybe a complaint."""
        c, m, f, offer, tally = self.cfg, self.market, self.firm, self.population.offer, self.population.tally
        dice, me, week = self.population.streams.dice, np.array([self.identity], np.uint64), self.population.week
        self.record(Happened.INCIDENT)
        x = F32(offer.service[f]) + F32(c.experience_noise) * dice.normal(Decision.EXPERIENCE, week, me)[0, 0]
        gift = self.roll(Decision.GIFTS)[0] < offer.generosity[f]
        if gift:
            x = x + F32(m.gift_value)
            self.record(Happened.FREE_FIX)
        # Disconfirmation: experience against expectation; losses loom larger, surprises amplify.
        d = x - self.expectation
        v = d if d >= 0 else F32(c.loss_aversion) * d
        surprised = abs(d) > c.surprise_threshold
        if surprised:
            v = F32(c.surprise_gain) * v
        v = self.forgive(v)
        v, hurt, voiced, handled = self.complain(v, *self.roll(Decision.COMPLAINTS, 2))
        detected = self.see_through()
        self.seek_help(voiced)
        # The feeling moves my bond (through a human touch), my memory and my expectation.
        human = F32(offer.humanity[f])
        delight = F32(c.delight_bond) * self.bonding * human * max(v, ZERO)
        self.bond += delight - F32(c.frustration_bond) * max(-v, ZERO)
        if gift:
            self.be_grateful()
        self.remember(v, surprised or gift or voiced)
        self.expectation = clip01(self.expectation + F32(c.expectation_adaptation) * (x - self.expectation))
        self.bond = clip01(self.bond)
        self.feeling = v
        bucket = self.buckets()
        tally.count(Count.INCIDENTS, f)
        tally.count(Count.EXPERIENCE_SUM, f, x)
        tally.count(Count.FREE_FIXES, f, gift, **bucket)
        tally.count(Count.PROBLEMS, f, hurt)
        tally.count(Count.COMPLAINTS, f, voiced)
        tally.count(Count.COMPLAINTS_HANDLED, f, handled, **bucket)
        tally.count(Count.DETECTIONS, f, detected)

    def buckets(self) -> dict[str, int]:
        """My tenure year and acquisition cohort, for the counts kept by them."""
        return {"tenure": tenure_year(self.tenure), "cohort": cohort_of(self.joined_week, self.population.n_cohorts)}

    @rule
    def seek_help(self, voiced: bool) -> None:
        """An incident is settled by self-service (as often as the firm's ease allows) or by a call; a voiced
        complaint is a call. A call that self-service at full ease would have spared, or that comes back because the
        problem was not fixed the first time (less often at a firm of better service), is failure demand."""
        c, offer, f, tally = self.cfg, self.population.offer, self.firm, self.population.tally
        u_self, u_fix = self.roll(Decision.CONTACTS, 2)
        if not voiced and u_self < F32(c.self_service) * F32(offer.ease[f]):
            self.record(Happened.SELF_SERVED)
            tally.count(Count.SELF_SERVED, f)
            return
        self.record(Happened.CALLED)
        bucket = self.buckets()
        tally.count(Count.CONTACTS, f, **bucket)
        if not voiced and u_self < F32(c.self_service):
            tally.count(Count.FAILURE_CONTACTS, f)
        unfixed = min((1 - F32(c.first_fix)) * F32(2) * (1 - F32(offer.service[f])), F32(1))
        if u_fix < unfixed:
            self.record(Happened.CALLED_AGAIN)
            tally.count(Count.CONTACTS, f, **bucket)
            tally.count(Count.FAILURE_CONTACTS, f)

    @rule
    def believe_promises(self) -> None:
        """Promises pull my expectation towards the firm's claims."""
        claims = F32(self.population.offer.claims[self.firm])
        self.expectation += F32(self.cfg.promise_pull) * (claims - self.expectation)

    @rule
    def receive_offers(self) -> None:
        """A giving firm tells me of a cheaper tariff (I may or may not move to it); a taking firm tries to sell me a
        bigger one, which may or may not meet a need of mine."""
        m, offer, f, tally = self.market, self.population.offer, self.firm, self.population.tally
        u_advice, u_contact, u_accept, u_uptake, u_fits = self.rolled(Decision.OFFERS)
        overpaying = self.tariff > self.fit + 1e-3
        if overpaying and not self.aware and u_advice < F32(m.advice_contact) * F32(offer.proactive_advice[f]):
            tally.count(Count.ADVICE_GIVEN, f)
            self.record(Happened.ADVISED)
            if u_uptake < F32(self.cfg.advice_uptake):
                tally.count(Count.ADVICE_VALUE, f, F32(offer.price[f]) * (self.tariff - self.fit))
                tally.count(Count.ADVICE_TAKEN, f)
                self.tariff = self.fit
                self.record(Happened.MOVED_TO_FIT)
            else:
                self.aware = True  # told, and stays: the goodwill of being told remains
            self.be_grateful()
            self.remember(F32(m.gift_value * self.cfg.surprise_gain))
        if u_contact < F32(m.upsell_contact) * F32(offer.upsell[f]):
            tally.count(Count.UPSELL_CONTACTS, f)
            self.record(Happened.UPSELL_CALL)
            self.trust = max(self.trust - F32(self.cfg.upsell_trust_loss), ZERO)
            self.remember(-F32(m.upsell_annoyance))
            if u_accept < m.upsell_accept:
                tally.count(Count.UPSELLS, f)
                self.record(Happened.UPSOLD)
                bigger = min(self.tariff + F32(m.upsell_step), F32(2))
                if u_fits < F32(m.upsell_fit):
                    self.fit = bigger  # a real need: my use grows into it
                else:
                    self.aware = False  # I believe it fits
                    if self.population.walk_cap:  # no price walking: no more than a new customer for my need
                        bigger = min(bigger, max(self.fit, F32(1)))
                self.tariff = bigger
        self.bond = clip01(self.bond)

    @rule
    def find_out(self) -> None:
        """Paying above my need, I may find out (a bill shock, a friend's remark, a rival's advert, or my firm's
        annual notice where the regulator asks for one): I feel it as a loss, may complain (a listening firm moves me
        to the tariff that fits) or move to it myself, and remember it."""
        c, offer, f, tally = self.cfg, self.population.offer, self.firm, self.population.tally
        if not self.tariff > self.fit + 1e-3:
            self.aware = False  # nothing to find out
            return
        if self.aware:
            return
        u_find, u_act, u_voice, u_heard = self.roll(Decision.DISCOVERY, 4)
        notice = self.population.notices and self.tenure > 0 and self.tenure % 52 == 0
        if not (notice or u_find < F32(c.discovery)):
            return
        self.record(Happened.FOUND_OUT)
        tally.count(Count.DISCOVERIES, f)
        self.aware = True
        regret = F32(c.loss_aversion) * -(
            F32(offer.relative_prices(f, self.market.reference_price)[0]) * (self.tariff - self.fit)
        )
        regret = self.forgive(F32(c.surprise_gain) * regret)
        regret, hurt, voiced, handled = self.complain(regret, u_voice, u_heard)
        bucket = self.buckets()
        tally.count(Count.PROBLEMS, f, hurt)
        tally.count(Count.COMPLAINTS, f, voiced)
        tally.count(Count.COMPLAINTS_HANDLED, f, handled, **bucket)
        if voiced:  # a complaint is a call, and failure demand
            self.record(Happened.CALLED)
            tally.count(Count.CONTACTS, f, **bucket)
            tally.count(Count.FAILURE_CONTACTS, f)
        if handled or u_act < F32(c.advice_uptake):
            tally.count(Count.REFITS, f)
            self.tariff = self.fit
            self.record(Happened.MOVED_TO_FIT)
        self.bond -= F32(c.frustration_bond) * max(-regret, ZERO)
        self.bond = clip01(self.bond)
        self.remember(regret, True)
        if abs(regret) > abs(self.feeling):
            self.feeling = regret

    def utilities(self, offer: Offer) -> tuple[np.ndarray, np.ndarray]:
        """Rational and full utility of each firm and of buying nothing (the last entry).

        Rational: quality for price as I perceive them. Full adds my bond, my trust and
        the cost of switching: what I act on.
        """
        c, m, F = self.cfg, self.market, self.population.n_firms
        ps = self.price_sensitivity * F32(offer.price_sensitivity)
        rational, full = np.empty(F + 1, F32), np.empty(F + 1, F32)
        for j in range(F):
            list_price, deal_price = offer.relative_prices(j, m.reference_price)  # to customers, to newcomers
            mine = self.firm == j
            if mine:  # what I know from experience, at this week's price (less a running discount)
                q = self.expectation + F32(c.memory_weight) * self.remembered
                price = list_price * self.tariff
                if self.discount_left > 0:
                    price = price * F32(1 - offer.discount[j])
                tolerance = 1 - F32(c.bond_price_tolerance) * self.bond
                attachment = F32(c.bond_weight) * self.bond + F32(c.trust_weight) * (self.trust - F32(c.trust_initial))
            else:  # what I believe from its claims
                q = F32(m.prior_quality + m.ad_claim_weight * offer.claims[j])
                price = deal_price
                tolerance, attachment = F32(1), ZERO
            q = q + self.heard[j]
            if self.grudge_firm == j:
                q = q - self.grudge
            switching = F32(m.switching_cost) if self.has_firm and not mine else ZERO
            rational[j] = F32(c.quality_weight) * q - ps * price
            full[j] = F32(c.quality_weight) * q - ps * tolerance * price + attachment - switching
            if not offer.available[j]:
                rational[j] = full[j] = -np.inf
        rational[F] = m.outside_utility
        full[F] = m.outside_utility - (F32(m.switching_cost) if self.has_firm else ZERO)
        return rational, full

    @rule
    def judge_value(self) -> np.float32:
        """Loyalty is logical: my firm's rational value (quality for price) minus that of the best alternative,
        buying nothing included (the value margin)."""
        rational, _ = self.utilities(self.population.offer)
        mine = rational[self.firm]
        rational[self.firm] = -np.inf
        return mine - rational.max()

    @rule
    def classify(self) -> None:
        """Where I stand: loyal by reason (value margin), devoted by emotion, detractor by memory."""
        c = self.cfg
        if not self.has_firm:
            self.value_margin = ZERO
            self.state = Ladder.DEFECTED if self.grudge > 0 else Ladder.PROSPECT
            return
        self.value_margin = self.judge_value()
        self.state = Ladder.CUSTOMER
        if self.value_margin >= c.loyal_margin:
            self.state = Ladder.LOYAL
        if self.bond >= c.devoted_bond:
            self.state = Ladder.DEVOTED
        if self.remembered < c.detractor_memory:
            self.state = Ladder.DETRACTOR

    @rule
    def decide_to_talk(self, u_talk: np.float32) -> int:
        """Whether I talk about my firm this week, and the sign of my word (0: silent): by where I stand, or after
        a strong experience (then the word is about it)."""
        c = self.cfg
        chance = {
            Ladder.DEVOTED: F32(c.talk_devoted),
            Ladder.LOYAL: F32(c.talk_loyal),
            Ladder.CUSTOMER: F32(c.talk_customer),
            Ladder.DETRACTOR: F32(c.talk_detractor),
        }.get(self.state, ZERO)
        chance = min(chance * self.talkativeness, F32(1))
        event = F32(c.talk_event) if abs(self.feeling) > c.talk_threshold else ZERO  # a strong feeling
        event = min(event * self.talkativeness, F32(1))
        sign = 0
        if u_talk < event + (1 - event) * chance and self.has_firm:
            if u_talk < event:
                sign = np.sign(self.feeling)
            elif self.state in (Ladder.DEVOTED, Ladder.LOYAL):
                sign = 1
            elif self.state == Ladder.DETRACTOR:
                sign = -1
            else:
                sign = np.sign(self.remembered)
        if sign > 0:
            self.record(Happened.PRAISED)
        elif sign < 0:
            self.record(Happened.CRITICISED)
        return sign

    @rule
    def vent(self, u_talk: np.float32) -> bool:
        """Having left a firm unhappy (buying elsewhere or nowhere), I may talk against it."""
        venting = self.grudge > 0 and u_talk < F32(self.cfg.talk_defected) * self.grudge * self.talkativeness
        if venting:
            self.record(Happened.VENTED)
        return venting

    @rule
    def spread_word_of_mouth(self, about: int, sign: int, u_tie, u_world, targets: Decision) -> None:
        """A word about a firm to one of my ties, and to the world with probability ``reach``."""
        population = self.population
        self.spoke = True
        population.tally.count(Count.WOM_POSITIVE if sign > 0 else Count.WOM_NEGATIVE, about)
        listeners = [population.random_person(u_tie)] if population.mixed else self.random_tie(u_tie)
        if u_world < population.offer.reach:
            k = self.market.broadcast_size
            listeners += [population.random_person(u) for u in self.roll(targets, k, wide=True)]
        for listener in listeners:
            if listener is not self:
                listener.hear(self, about, sign)

    def random_tie(self, u: np.float32) -> list[Customer]:
        """One of my ties, chosen by ``u`` (none if I have no ties)."""
        n = len(self.ties)
        return [self.ties[min(int(float(u) * n), n - 1)]] if n else []

    @rule
    def defend(self, speaker: Customer, firm: int, sign: int) -> bool:
        """Devoted to the firm criticised, I shrug the criticism off and answer back (the speaker hears praise)."""
        if not (sign < 0 and self.firm == firm and self.state == Ladder.DEVOTED):
            return False
        tally = self.population.tally
        tally.count(Count.DEFENSES, firm)
        tally.count(Count.WOM_POSITIVE, firm)
        tally.count(Count.HEARD_POSITIVE, firm)  # the speaker hears the defence
        speaker.praise[firm] += 1
        self.record(Happened.DEFENDED)
        return True

    @rule
    def hear(self, speaker: Customer, firm: int, sign: int) -> None:
        """Word of mouth reaches me."""
        tally = self.population.tally
        if self.defend(speaker, firm, sign):
            return
        if sign > 0:
            tally.count(Count.HEARD_POSITIVE, firm)
            self.praise[firm] += 1
        else:
            tally.count(Count.HEARD_NEGATIVE, firm)
            self.criticism[firm] += 1

    @rule
    def take_in_word_of_mouth(self) -> None:
        """What I heard this week joins what I heard before; the most praised firm is a referral."""
        m = self.market
        if any(self.praise) or any(self.criticism):
            for j in range(self.population.n_firms):
                praise, criticism = F32(self.praise[j]), F32(self.criticism[j])
                self.heard[j] += praise * F32(m.wom_weight) - criticism * F32(m.wom_weight * m.negativity)
        best = int(np.argmax(self.praise))
        self.referred = best if self.praise[best] > 0 else None
        self.alarmed = self.has_firm and self.criticism[self.firm] > 0
        if any(self.praise):
            self.record(Happened.HEARD_PRAISE)
        if any(self.criticism):
            self.record(Happened.HEARD_CRITICISM)
        self.praise, self.criticism = [0] * self.population.n_firms, [0] * self.population.n_firms

    @rule
    def bond_with_community(self) -> None:
        """Devoted people around me at my firm strengthen my own bond."""
        if not self.has_firm:
            community = 0.0
        elif self.population.mixed:
            community = self.population.devoted_count[self.firm] / self.population.n
        else:
            same = sum(1 for t in self.ties if t.state == Ladder.DEVOTED and t.firm == self.firm)
            community = same / max(len(self.ties), 1)
        gain = np.float64(F32(self.cfg.community_bond)) * community * np.float64(self.bonding)
        self.bond = clip01(self.bond + F32(gain))

    @rule
    def see_ad(self) -> int | None:
        """At most one ad a week, from a firm drawn by ad weight."""
        population, F = self.population, self.population.n_firms
        u_saw, u_which = self.rolled(Decision.ADVERTISING)
        if population.ad_weights is None or not u_saw < min(1.0, self.market.ad_reach * population.ad_total):
            return None
        self.record(Happened.SAW_AD)
        return min(int(np.searchsorted(population.ad_weights, u_which, side="right")), F - 1)

    @rule
    def reconsider(self, ad: int | None) -> bool:
        """Whether I look at the market this week: restlessness, bad memories, an alarm and a rival's ad prompt a
        customer; a prospect looks unprompted, after an ad or after a referral."""
        c = self.cfg
        if self.has_firm:
            rival_ad = ad is not None and ad != self.firm
            looking_chance = float(self.restlessness) * (
                float(F32(c.review_rate) + F32(c.dissatisfied_review) * max(-self.remembered, ZERO))
                + c.negative_wom_review * self.alarmed
                + c.ad_prompt * rival_ad
            )
            if self.by_referral:  # a friend's recommendation holds longer
                looking_chance = looking_chance * c.referred_restlessness
        else:
            looking_chance = (
                c.prospect_consider + c.ad_prompt * (ad is not None) + c.referral_uptake * (self.referred is not None)
            )
        looks = float(self.rolled(Decision.REVIEW)[0]) < looking_chance  # in float64, as the compiled engine
        if looks:
            self.record(Happened.LOOKED)
        return looks

    @rule
    def choose_supplier(self, ad: int | None) -> None:
        """Looking at the market, I choose by logit among the firms and buying nothing."""
        F = self.population.n_firms
        _, full = self.utilities(self.population.offer)
        gumbel = -np.log(-np.log(self.roll(Decision.CHOICE, F + 1, wide=True) + 1e-12) + 1e-12)
        choice = int(np.argmax(full + gumbel))
        to = None if choice == F else choice
        if to == self.firm:
            return
        if self.has_firm:
            self.leave(to)
        if to is not None:
            self.join(to, ad, full, gumbel)
        self.firm = to

    @rule
    def leave(self, to: int | None) -> None:
        """I leave my firm (for ``to``, or for none): unhappy, I keep a grudge; for none, the relationship ends."""
        tally = self.population.tally
        tally.count(Count.DEFECTIONS, self.firm, segment=self.segment)
        tally.count(Count.SWITCHES, self.firm, to is not None)
        self.record(Happened.LEFT_FIRM)
        if self.remembered < 0:
            self.grudge_firm = self.firm
            self.grudge = min(-self.remembered, F32(1))
            self.record(Happened.LEFT_UNHAPPY)
        if to is None:
            self.renew(FRESH_ON_QUITTING)

    @rule
    def join(self, firm: int, ad: int | None, full: np.ndarray, gumbel: np.ndarray) -> None:
        """A fresh relationship, expecting what the firm claims and what I heard."""
        m, offer, week, tally = self.market, self.population.offer, self.population.week, self.population.tally
        self.record(Happened.JOINED)
        channel = Channel.ORGANIC
        if ad == firm:
            channel = Channel.ADVERTISING
        if self.referred == firm:
            channel = Channel.REFERRAL
        if channel is Channel.REFERRAL:
            self.record(Happened.JOINED_BY_REFERRAL)
        elif channel is Channel.ADVERTISING:
            self.record(Happened.JOINED_BY_AD)
        tally.count(acquired(channel), firm, segment=self.segment)
        discounted = offer.discount[firm] > 0
        if discounted:
            tally.count(Count.ACQUIRED_ON_DISCOUNT, firm)
            self.record(Happened.TOOK_DISCOUNT)
            if self.discount_decided(firm, full, gumbel):
                tally.count(Count.ACQUIRED_BY_DISCOUNT, firm)
                self.record(Happened.DISCOUNT_DECIDED)
        believed = F32(m.prior_quality) + F32(m.ad_claim_weight) * F32(offer.claims[firm]) + self.heard[firm]
        self.renew(FRESH_ON_JOINING)
        self.expectation = clip01(believed)
        self.heard[firm] = ZERO  # what I heard of the firm is now what I expect of it
        if self.grudge_firm == firm:  # I came back: no grudge against the firm I rejoin
            self.grudge_firm, self.grudge = None, ZERO
        self.joined_week = week
        self.tariff = max(self.fit, F32(1))  # the standard tariff, or the one that meets a need grown beyond it
        self.discount_left = m.discount_weeks if discounted else 0
        self.by_referral = channel is Channel.REFERRAL

    def discount_decided(self, firm: int, full: np.ndarray, gumbel: np.ndarray) -> bool:
        """Would I have chosen otherwise at the firm's list price, with the same random draws?"""
        list_price, deal_price = self.population.offer.relative_prices(firm, self.market.reference_price)
        sensitivity = self.price_sensitivity * F32(self.population.offer.price_sensitivity)
        utility = full + gumbel
        utility[firm] = (full[firm] - sensitivity * (list_price - deal_price)) + gumbel[firm]
        return int(np.argmax(utility)) != firm

    @rule
    def pay(self) -> None:
        """I pay my tariff at my firm's price, less any running discount; devoted, I spend a little more with it."""
        if not self.has_firm:
            return
        f, offer, tally, c = self.firm, self.population.offer, self.population.tally, self.cfg
        full_price = F32(offer.price[f]) * self.tariff
        if c.devoted_premium and self.state == Ladder.DEVOTED:
            full_price = full_price * (1 + F32(c.devoted_premium))
        price = full_price * (1 - F32(offer.discount[f])) if self.discount_left > 0 else full_price
        bucket = self.buckets()
        tally.count(Count.REVENUE, f, price, segment=self.segment, **bucket)
        if self.discount_left > 0:
            tally.count(Count.DISCOUNT_GIVEN, f, full_price * F32(offer.discount[f]), **bucket)
        tally.count(Count.CUSTOMERS, f, **bucket)
        tally.count(Count.BOND_SUM, f, self.bond)
        tally.count(Count.TRUST_SUM, f, self.trust)
        tally.count(Count.TARIFF_SUM, f, self.tariff)

    # ------------------------------------------------------- the week's phases
    def meet_the_firm(self) -> None:
        """This week's observations start afresh; I may need service; my firm's promises and offers reach me."""
        c, offer = self.cfg, self.population.offer
        self.feeling, self.complaint = ZERO, Complaint.NONE
        if not self.has_firm:
            return
        rate = min(F32(c.incident_rate) * F32(self._at(offer.incident_multiplier)), F32(1))
        if self.rolled(Decision.INCIDENTS)[0] < rate:
            self.experience_service()
        self.believe_promises()
        self.receive_offers()
        self.find_out()

    def talk(self) -> None:
        """I may talk about my firm, and vent against a firm I left unhappy."""
        u_talk, u_tie, u_world = self.rolled(Decision.WOM)
        self.spoke, self.spoke_feeling = False, self.remembered
        sign = self.decide_to_talk(u_talk)
        if sign != 0:
            self.spread_word_of_mouth(self.firm, sign, u_tie, u_world, Decision.BROADCAST)
        if self.grudge > 0 and self.grudge_firm is not None:
            u_talk, u_tie, u_world = self.roll(Decision.VENT, 3)
            if self.vent(u_talk):
                self.spread_word_of_mouth(self.grudge_firm, -1, u_tie, u_world, Decision.VENT_BROADCAST)

    def look_around(self) -> None:
        """An ad may catch my eye; prompted, I choose again."""
        ad = self.see_ad()
        if self.reconsider(ad):
            self.choose_supplier(ad)


RULES = tuple(name for name, method in vars(Customer).items() if getattr(method, "is_rule", False))


class CustomerAgents:
    """The population as Mesa agents (a ``sim.model.population.Population``).

    Each week the customers act phase by phase (``AgentSet.do``), in customer order, as the compiled engine's
    passes do: everyone lives the week's service before anyone talks, and everyone has talked before anyone
    chooses.
    """

    def __init__(
        self,
        model: mesa.Model,
        cfg: CustomersConfig,
        market: MarketConfig,
        n_firms: int,
        initial_weights: np.ndarray,
        service: np.ndarray,
        streams: Streams,
        network: SocialNetwork,
        n_cohorts: int = 1,
    ):
        self.cfg, self.market, self.n_firms, self.n = cfg, market, n_firms, cfg.n
        self.no_firm = n_firms  # "no firm" as an index, in the offer's arrays and in the state arrays
        self.n_cohorts = n_cohorts  # acquisition cohorts told apart (``vocabulary.cohorts``)
        self.notices = market.regulation is Regulation.NOTICES  # each customer told once a year of their best tariff
        self.walk_cap = market.regulation is Regulation.NO_PRICE_WALKING  # no more than a new customer pays
        self.streams, self.week = streams, 0
        self.mixed = network.mixed
        self.has_ties = len(network.indices) > 0
        start = draw_start(cfg, n_firms, initial_weights, service, streams.dice)
        self.space = Network(network.to_networkx(), capacity=1, random=model.random, layout=None)
        cells = list(self.space.all_cells)
        self.customers = AgentSet(
            [Customer(model, self, i, cells[i], {k: v[i] for k, v in start.items()}) for i in range(self.n)],
            random=model.random,
        )
        self.by_index: list[Customer] = list(self.customers)
        for person in self.by_index:
            person.ties = sorted((cell.agents[0] for cell in person.cell.neighborhood), key=lambda p: p.index)
        self.offer: Offer | None = None
        self.tally = Tally(n_firms, len(cfg.segments.groups), n_cohorts)
        self.rolls: dict[Decision, np.ndarray] = {}

    def roll_everyone(self, decision: Decision, k: int) -> np.ndarray:
        """Every customer's ``k`` dice for a decision this week, each from their own identity (as ``Customer.roll``)."""
        return self.streams.dice.uniform(decision, self.week, self.identity, k)

    def random_person(self, u: float) -> Customer:
        """Someone drawn from the whole population by ``u`` (random mixing, broadcasts)."""
        return self.by_index[min(int(u * self.n), self.n - 1)]

    def step(self, week: int, offer: Offer, net: SocialNetwork, streams: Streams) -> Tally:
        """One week in the life of every customer, phase by phase."""
        self.week, self.offer, self.streams = week, offer, streams
        self.tally = Tally(self.n_firms, len(self.cfg.segments.groups), self.n_cohorts)
        self.rolls = {Decision.TURNOVER: self.roll_everyone(Decision.TURNOVER, 1)}
        self.customers.do("turn_over")
        newcomers = [p for p in self.by_index if p.happened & Happened.LEFT_MARKET]
        traits = draw_traits(self.cfg, streams.dice, np.array([p.identity for p in newcomers], np.uint64))
        for i, person in enumerate(newcomers):
            person.take_traits({name: values[i] for name, values in traits.items()})
        everyone = {
            Decision.INCIDENTS: 1,
            Decision.OFFERS: 5,
            Decision.WOM: 3,
            Decision.ADVERTISING: 2,
            Decision.REVIEW: 1,
        }
        self.rolls = {decision: self.roll_everyone(decision, k) for decision, k in everyone.items()}
        self.customers.do("fade")
        self.customers.do("meet_the_firm")
        self.classify(offer)
        self.customers.do("talk")
        self.customers.do("take_in_word_of_mouth")
        if self.cfg.community_bond != 0 and (self.mixed or self.has_ties):
            counts = np.bincount([p.firm for p in self.by_index if p.state == Ladder.DEVOTED], minlength=self.n_firms)
            self.devoted_count = counts
            self.customers.do("bond_with_community")
        ads = np.where(offer.available[: self.n_firms], offer.advertising[: self.n_firms], 0)
        self.ad_total = ads.sum()
        self.ad_weights = np.cumsum(ads) / self.ad_total if self.ad_total > 0 else None
        self.customers.do("look_around")
        self.classify(offer)
        self.customers.do("pay")
        return self.tally

    def classify(self, offer: Offer) -> None:
        self.offer = offer
        self.customers.do("classify")

    def census(self) -> tuple[np.ndarray, np.ndarray]:
        """(stocks, grudges): everyone by firm, segment and ladder state; grudges held per firm (``vocabulary.census``)."""
        args = (self.state, self.firm, self.grudge_firm, self.grudge, self.segment)
        return census(*args, self.n_firms, len(self.cfg.segments.groups))

    def counts_by_state(self) -> np.ndarray:
        """(F, len(Ladder)) counts by state; defected customers count at the firm they left."""
        out = np.zeros((self.n_firms, len(Ladder)), np.int64)
        for p in self.by_index:
            firm = p.grudge_firm if p.state == Ladder.DEFECTED else p.firm
            if firm is not None:
                out[firm, p.state] += 1
        return out

    def __getattr__(self, name: str) -> np.ndarray:
        """Declared state variables as arrays (``customers.bond``), as the compiled engine holds them; a firm index
        of None reads as F. ``remembered`` is derived, as there."""
        if name == "remembered":
            return np.array([p.remembered for p in self.by_index], dtype=F32)
        if name not in BY_NAME:
            raise AttributeError(name)
        var = BY_NAME[name]
        values = [getattr(p, name) for p in self.by_index]
        if var.is_firm:
            values = [self.no_firm if v is None else v for v in values]
        return np.array(values, dtype=var.dtype)

    @property
    def has_firm(self) -> np.ndarray:
        return self.firm < self.no_firm
