"""The customer population as a struct of arrays, stepped without per-customer loops.

A customer holds, towards its current firm: an *expectation* of service, a *memory*
of experiences (a recency trace plus remembered best and worst moments, all
fading), an emotional *bond* and *trust*, a tariff, and what it has *heard* about
every firm. Two attitudes sit on top: the rational value judgement (does my firm
beat the best alternative on quality for price?) and the bond (devotion). The
ladder state is read off them each week by ``classify``. The state variables are
declared in ``sim.model.state``; ``sim.model.agents`` says the same rules per person.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from ..config import CustomersConfig, MarketConfig
from .draws import Decision, next_identity
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
from .vocabulary import Channel, Complaint, Count, Ladder, Offer, Tally, acquired, census

f32 = np.float32


class Customers:
    """All customers, as arrays indexed by customer (one per declared state variable)."""

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
        self.no_firm = n_firms  # the index of "no firm", in ``firm`` and in the offer's arrays
        self.week = 0
        for name, values in fresh_arrays(cfg, n_firms, self.n).items():
            setattr(self, name, values)
        for name, values in draw_start(cfg, n_firms, initial_weights, service, streams.dice).items():
            getattr(self, name)[:] = values
        self._fresh = {v.name: fresh_value(v, cfg, n_firms) for v in STATE}  # a newcomer's values
        self._ties = None  # the network's adjacency as a sparse matrix, built on first use

    # ---------------------------------------------------------------- derived
    @property
    def remembered(self) -> np.ndarray:
        """Remembered experience: recency trace plus weighted peaks (peak-end)."""
        return self.recent + self.cfg.peak_weight * (self.peak_pos + self.peak_neg)

    @property
    def has_firm(self) -> np.ndarray:
        return self.firm < self.no_firm

    def census(self) -> tuple[np.ndarray, np.ndarray]:
        """(stocks, grudges): everyone by firm, segment and ladder state; grudges held per firm (``vocabulary.census``)."""
        args = (self.state, self.firm, self.grudge_firm, self.grudge, self.segment)
        return census(*args, self.n_firms, len(self.cfg.segments.groups))

    def counts_by_state(self) -> np.ndarray:
        """(F, len(Ladder)) counts of current customers by state; defected by the firm they left."""
        where = np.where(self.state == Ladder.DEFECTED, self.grudge_firm, self.firm).astype(np.int64)
        k = len(Ladder)
        out = np.bincount(where * k + self.state, minlength=(self.n_firms + 1) * k).reshape(self.n_firms + 1, k)
        return out[: self.n_firms]

    def _renew(self, who: np.ndarray, variables) -> None:
        """Set the declared ``variables`` of customers ``who`` to a newcomer's values."""
        if not len(who):
            return
        for var in variables:
            getattr(self, var.name)[who] = self._fresh[var.name]

    # ------------------------------------------------------------- behaviours
    def step(self, week: int, offer: Offer, net: SocialNetwork, streams: Streams) -> Tally:
        """One week in the life of every customer."""
        self.week = week
        tally = Tally(self.n_firms, len(self.cfg.segments.groups))
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
        dice = streams.dice.uniform(Decision.TURNOVER, self.week, self.identity)[:, 0]
        leaving = np.flatnonzero(dice < self.cfg.turnover)
        tally.add(Count.DEPARTURES, self.firm[leaving], segment=self.segment[leaving])
        self._renew(leaving, FRESH_ON_LEAVING)
        next_identity(self.identity, leaving)
        for name, values in draw_traits(self.cfg, streams.dice, self.identity[leaving]).items():
            getattr(self, name)[leaving] = values

    def fade(self) -> None:
        """Memories, bonds, what was heard and grudges fade without renewal."""
        cfg, market = self.cfg, self.market
        self.recent *= f32(1 - cfg.memory_decay)
        self.peak_pos *= f32(1 - cfg.peak_decay)
        self.peak_neg *= f32(1 - cfg.peak_decay)
        self.bond *= f32(1 - cfg.bond_decay)
        self.heard *= f32(1 - market.wom_decay)
        self.grudge *= f32(1 - cfg.grudge_decay)
        self.grudge[self.grudge < 0.02] = 0
        self.trust += f32(cfg.trust_recovery) * (f32(cfg.trust_initial) - self.trust)
        self.tenure += self.has_firm
        np.maximum(self.discount_left - 1, 0, out=self.discount_left)

    def _remember(self, who: np.ndarray, feeling: np.ndarray, surprised: np.ndarray | bool = True) -> None:
        """Recency trace for every feeling; surprises also become remembered peaks."""
        learning = f32(self.cfg.memory_learning)
        self.recent[who] += learning * (feeling - self.recent[who])
        peak = np.where(surprised, feeling, 0).astype(f32)
        self.peak_pos[who] = np.maximum(self.peak_pos[who], peak)
        self.peak_neg[who] = np.minimum(self.peak_neg[who], peak)

    def _be_grateful(self, who: np.ndarray) -> None:
        """Reciprocity: an unasked gift raises the bond, more so where trust is high."""
        cfg = self.cfg
        self.bond[who] += f32(cfg.gratitude) * self.bonding[who] * self.trust[who] * (1 - self.bond[who])
        self.trust[who] = np.minimum(self.trust[who] + f32(cfg.gift_trust), 1)

    def experience_service(self, offer: Offer, streams: Streams, tally: Tally) -> None:
        """Incidents arrive; handling, gifts and complaints turn them into feelings."""
        cfg, market = self.cfg, self.market
        firm = self.firm
        roll, week = streams.dice, self.week
        dice = roll.uniform(Decision.INCIDENTS, week, self.identity)[:, 0]
        chance = np.minimum(f32(cfg.incident_rate) * offer.incident_multiplier.astype(f32)[firm], 1)
        hit = np.flatnonzero((dice < chance) & self.has_firm)
        who = self.identity[hit]
        their = firm[hit].astype(np.int64)
        noise = roll.normal(Decision.EXPERIENCE, week, who)[:, 0]
        experience = offer.service.astype(f32)[their] + f32(cfg.experience_noise) * noise
        gifted = roll.uniform(Decision.GIFTS, week, who)[:, 0] < offer.generosity[their]
        experience = experience + f32(market.gift_value) * gifted
        # Disconfirmation: experience against expectation, losses loom larger, surprises amplify.
        disconfirmation = experience - self.expectation[hit]
        felt = np.where(disconfirmation >= 0, disconfirmation, f32(cfg.loss_aversion) * disconfirmation)
        surprised = np.abs(disconfirmation) > cfg.surprise_threshold
        felt = np.where(surprised, f32(cfg.surprise_gain) * felt, felt)
        bond = self.bond[hit]
        felt = np.where(felt < 0, felt * (1 - f32(cfg.forgiveness) * bond), felt)  # devotion forgives
        # Voice before exit: bonded customers speak up; a listening firm makes it right.
        hurt = felt < cfg.complaint_threshold
        complaint_dice = roll.uniform(Decision.COMPLAINTS, week, who, 2)  # voicing, handling
        voice = np.minimum(f32(cfg.voice) * self.outspokenness[hit] * (0.5 + bond), 1)
        voiced = hurt & (complaint_dice[:, 0] < voice)
        handled = voiced & (complaint_dice[:, 1] < offer.listening[their])
        felt = felt + np.where(handled, f32(cfg.recovery_gain) * offer.speed.astype(f32)[their], 0)
        felt = felt - np.where(voiced & ~handled, f32(cfg.ignored_penalty), 0)
        # Claims above acts are seen through, a little at every contact.
        gap = np.maximum(offer.claims - offer.acts, 0).astype(f32)[their]
        detected = roll.uniform(Decision.DETECTION, week, who)[:, 0] < f32(cfg.detection_rate) * gap
        self.trust[hit] = np.maximum(self.trust[hit] - f32(cfg.detection_trust_loss) * detected, 0)
        self.bond[hit] -= f32(cfg.detection_bond_loss) * detected
        # Feelings move the bond (through a human touch), memory and expectation.
        human = offer.humanity.astype(f32)[their]
        delight = f32(cfg.delight_bond) * self.bonding[hit] * human * np.maximum(felt, 0)
        self.bond[hit] += delight - f32(cfg.frustration_bond) * np.maximum(-felt, 0)
        self._be_grateful(hit[gifted])
        self._remember(hit, felt, surprised | gifted | voiced)
        adapted = self.expectation[hit] + f32(cfg.expectation_adaptation) * (experience - self.expectation[hit])
        self.expectation[hit] = np.clip(adapted, 0, 1)
        np.clip(self.bond, 0, 1, out=self.bond)
        self.feeling[:] = 0
        self.feeling[hit] = felt
        self.complaint[:] = Complaint.NONE
        self.complaint[hit[hurt & ~voiced]] = Complaint.SILENT
        self.complaint[hit[handled]] = Complaint.HANDLED
        self.complaint[hit[voiced & ~handled]] = Complaint.IGNORED
        tally.add(Count.INCIDENTS, their)
        tally.add(Count.EXPERIENCE_SUM, their, experience)
        tally.add(Count.FREE_FIXES, their[gifted])
        tally.add(Count.PROBLEMS, their[hurt])
        tally.add(Count.COMPLAINTS, their[voiced])
        tally.add(Count.COMPLAINTS_HANDLED, their[handled])
        tally.add(Count.DETECTIONS, their[detected])
        # Promises pull every customer's expectation towards the firm's claims.
        pull = f32(cfg.promise_pull) * (offer.claims.astype(f32)[firm] - self.expectation)
        self.expectation += pull * self.has_firm

    def receive_offers(self, offer: Offer, streams: Streams, tally: Tally) -> None:
        """Giving: advice of a cheaper tariff. Taking: upsell contacts."""
        market = self.market
        firm = self.firm
        dice = streams.dice.uniform(Decision.OFFERS, self.week, self.identity, 3).T  # advice, contact, acceptance
        overpaying = self.has_firm & (self.tariff > self.fit + 1e-3)
        advice_chance = f32(market.advice_contact) * offer.proactive_advice.astype(f32)[firm]
        advised = np.flatnonzero(overpaying & (dice[0] < advice_chance))
        tally.add(Count.ADVICE_GIVEN, firm[advised])
        price = offer.price.astype(f32)[firm[advised]]
        tally.add(Count.ADVICE_VALUE, firm[advised], price * (self.tariff[advised] - self.fit[advised]))
        self.tariff[advised] = self.fit[advised]
        self._be_grateful(advised)
        self._remember(advised, np.full(len(advised), f32(market.gift_value * self.cfg.surprise_gain)))
        upsell_chance = f32(market.upsell_contact) * offer.upsell.astype(f32)[firm]
        contacted = np.flatnonzero(self.has_firm & (dice[1] < upsell_chance))
        accepted = contacted[dice[2][contacted] < market.upsell_accept]
        self.trust[contacted] = np.maximum(self.trust[contacted] - f32(self.cfg.upsell_trust_loss), 0)
        self._remember(contacted, np.full(len(contacted), -f32(market.upsell_annoyance)))
        self.tariff[accepted] = np.minimum(self.tariff[accepted] + f32(market.upsell_step), 2)
        tally.add(Count.UPSELL_CONTACTS, firm[contacted])
        tally.add(Count.UPSELLS, firm[accepted])
        np.clip(self.bond, 0, 1, out=self.bond)

    def perceived(self, who: np.ndarray, offer: Offer) -> tuple[np.ndarray, np.ndarray]:
        """Rational and full utilities (len(who), F + 1) of each firm and of buying nothing.

        Rational: quality for price, as the customer perceives them. Full adds the
        bond, trust and the cost of switching: what the customer acts on.
        """
        cfg, market, n_firms = self.cfg, self.market, self.n_firms
        own = self.firm[who]
        has = own < self.no_firm
        sensitivity = self.price_sensitivity[who] * f32(offer.price_sensitivity)
        heard = self.heard[who]
        remembered = self.remembered[who]
        bond, trust = self.bond[who], self.trust[who]
        on_discount = self.discount_left[who] > 0
        rational = np.empty((len(who), n_firms + 1), f32)
        full = np.empty((len(who), n_firms + 1), f32)
        for j in range(n_firms):
            list_price, deal_price = offer.relative_prices(j, market.reference_price)
            mine = own == j
            tried = self.expectation[who] + f32(cfg.memory_weight) * remembered
            untried = f32(market.prior_quality + market.ad_claim_weight * offer.claims[j])
            quality = np.where(mine, tried, untried) + heard[:, j]
            quality -= np.where(self.grudge_firm[who] == j, self.grudge[who], 0)
            own_price = list_price * self.tariff[who]  # this week's price: less a running discount
            own_price = np.where(on_discount, own_price * f32(1 - offer.discount[j]), own_price)
            price = np.where(mine, own_price, deal_price)
            tolerance = np.where(mine, 1 - f32(cfg.bond_price_tolerance) * bond, 1)
            attachment = f32(cfg.bond_weight) * bond + f32(cfg.trust_weight) * (trust - f32(cfg.trust_initial))
            rational[:, j] = f32(cfg.quality_weight) * quality - sensitivity * price
            full[:, j] = (
                f32(cfg.quality_weight) * quality
                - sensitivity * tolerance * price
                + np.where(mine, attachment, 0)
                - np.where(has & ~mine, f32(market.switching_cost), 0)
            )
            if not offer.available[j]:
                rational[:, j] = -np.inf
                full[:, j] = -np.inf
        rational[:, n_firms] = market.outside_utility
        full[:, n_firms] = market.outside_utility - np.where(has, f32(market.switching_cost), 0)
        return rational, full

    def value_margin_of(self, offer: Offer, remembered: np.ndarray) -> np.ndarray:
        """Rational value of one's own firm minus that of the best alternative (buying nothing included).

        The same arithmetic as ``perceived``'s rational utilities, over the whole population
        at once; entries of customers without a firm are meaningless. Masks enter as
        multiplications (exact: x * 1 = x, x + 0 = x), which are far cheaper than ``np.where``.
        """
        cfg, market = self.cfg, self.market
        sensitivity = self.price_sensitivity * f32(offer.price_sensitivity)
        weight = f32(cfg.quality_weight)
        best_other = np.full(self.n, market.outside_utility, f32)
        heard_mine = np.zeros(self.n, f32)  # what I heard of my own firm, and its price to me
        price_mine = np.zeros(self.n, f32)
        discount_mine = np.ones(self.n, f32)  # a running acquisition discount: the price factor
        on_discount = self.discount_left > 0
        for j in range(self.n_firms):
            at_j = self.firm == j
            heard = self.heard[:, j]
            list_price, deal_price = offer.relative_prices(j, market.reference_price)
            heard_mine += heard * at_j
            price_mine += list_price * at_j
            discount_mine[at_j & on_discount] = f32(1 - offer.discount[j])
            if not offer.available[j]:  # no one buys from a firm before it enters
                continue
            quality = f32(market.prior_quality + market.ad_claim_weight * offer.claims[j]) + heard
            grudging = np.flatnonzero(self.grudge_firm == j)
            quality[grudging] -= self.grudge[grudging]
            other = weight * quality
            other -= sensitivity * deal_price
            other -= at_j * f32(1e30)  # one's own firm is no alternative
            np.maximum(best_other, other, out=best_other)
        # One's own firm: known from experience, at one's own tariff.
        quality = self.expectation + f32(cfg.memory_weight) * remembered + heard_mine
        quality -= self.grudge * (self.grudge_firm == self.firm)
        mine = weight * quality - sensitivity * (price_mine * self.tariff * discount_mine)
        return mine - best_other

    def classify(self, offer: Offer) -> None:
        """Read the ladder state off the two attitudes and the memory."""
        cfg, L = self.cfg, Ladder
        has = self.has_firm
        remembered = self.remembered
        self.value_margin = self.value_margin_of(offer, remembered) * has
        # Later rules override earlier ones: loyal by value, devoted by bond, detractor by memory.
        state = L.CUSTOMER + (self.value_margin >= cfg.loyal_margin).astype(np.int8) * np.int8(L.LOYAL - L.CUSTOMER)
        state += (self.bond >= cfg.devoted_bond) * (L.DEVOTED - state)
        state += (remembered < cfg.detractor_memory) * (L.DETRACTOR - state)
        outside = (self.grudge > 0).astype(np.int8) * np.int8(L.DEFECTED)  # else PROSPECT (0)
        self.state = (state * has + outside * ~has).astype(np.int8)

    def spread_word_of_mouth(self, offer: Offer, net: SocialNetwork, streams: Streams, tally: Tally) -> None:
        """Customers talk about their firm to a tie (and sometimes to the world); anyone holding a grudge
        vents against the firm they left; devoted customers defend."""
        cfg, market, n_firms, week = self.cfg, self.market, self.n_firms, self.week
        state = self.state
        # Talk about one's own firm: by ladder state, or after a strong experience.
        chance_by_state = np.zeros(len(Ladder), f32)
        chance_by_state[[Ladder.DEVOTED, Ladder.LOYAL, Ladder.CUSTOMER, Ladder.DETRACTOR]] = (
            cfg.talk_devoted,
            cfg.talk_loyal,
            cfg.talk_customer,
            cfg.talk_detractor,
        )
        talkative = self.talkativeness
        state_chance = np.minimum(chance_by_state[state] * talkative, 1)
        strong = np.abs(self.feeling) > cfg.talk_threshold
        event_chance = np.minimum(np.where(strong, f32(cfg.talk_event), 0) * talkative, 1)
        dice = streams.dice.uniform(Decision.WOM, week, self.identity, 3).T  # talk, tie, broadcast
        talks = dice[0] < event_chance + (1 - event_chance) * state_chance
        speakers = np.flatnonzero(talks)
        event = dice[0][speakers] < event_chance[speakers]
        about = self.firm[speakers].astype(np.int64)
        sign_of_state = np.where(
            np.isin(state[speakers], (Ladder.DEVOTED, Ladder.LOYAL)),
            1,
            np.where(state[speakers] == Ladder.DETRACTOR, -1, np.sign(self.remembered[speakers])),
        )
        sign = np.where(event, np.sign(self.feeling[speakers]), sign_of_state).astype(np.int8)
        keep = (sign != 0) & (about < n_firms)
        speakers, about, sign = speakers[keep], about[keep], sign[keep]
        # Vent: whoever left a firm unhappy, buying elsewhere or nowhere, may talk against it.
        holders = np.flatnonzero((self.grudge > 0) & (self.grudge_firm < n_firms))
        vent_dice = streams.dice.uniform(Decision.VENT, week, self.identity[holders], 3).T  # talk, tie, broadcast
        venting = vent_dice[0] < f32(cfg.talk_defected) * self.grudge[holders] * self.talkativeness[holders]
        venters = holders[venting]
        against = self.grudge_firm[venters].astype(np.int64)
        self.spoke[:] = False
        self.spoke[speakers] = True
        self.spoke[venters] = True
        self.spoke_feeling[:] = self.remembered
        tally.add(Count.WOM_POSITIVE, about[sign > 0])
        tally.add(Count.WOM_NEGATIVE, about[sign < 0])
        tally.add(Count.WOM_NEGATIVE, against)
        listener, speaker, about, sign = self._deliver(
            np.concatenate([speakers, venters]),
            np.concatenate([about, against]),
            np.concatenate([sign, np.full(len(venters), -1, np.int8)]),
            np.concatenate([dice[1][speakers], vent_dice[1][venting]]),
            np.concatenate([dice[2][speakers], vent_dice[2][venting]]),
            len(speakers),
            offer,
            net,
            streams,
        )
        # Devoted customers shrug off criticism of their firm and answer back.
        defended = (sign < 0) & (self.firm[listener] == about) & (self.state[listener] == Ladder.DEVOTED)
        tally.add(Count.DEFENSES, about[defended])
        tally.add(Count.WOM_POSITIVE, about[defended])
        listener = np.concatenate([listener[~defended], speaker[defended]])
        about = np.concatenate([about[~defended], about[defended]])
        sign = np.concatenate([sign[~defended], np.ones(defended.sum(), np.int8)])
        # What each listener heard this week, counted so that the order of delivery does not matter.
        listeners, at = np.unique(listener, return_inverse=True)
        positive = sign > 0
        tally.add(Count.HEARD_POSITIVE, about[positive])
        tally.add(Count.HEARD_NEGATIVE, about[~positive])
        k = len(listeners)
        praise = np.bincount(at[positive] * n_firms + about[positive], minlength=k * n_firms).reshape(k, n_firms)
        criticism = np.bincount(at[~positive] * n_firms + about[~positive], minlength=k * n_firms).reshape(k, n_firms)
        self.heard[listeners] += praise.astype(f32) * f32(market.wom_weight) - criticism.astype(f32) * f32(
            market.wom_weight * market.negativity
        )
        # Referrals (the firm most recommended to me) and alarms, kept for this week's choices.
        self.referred = np.full(self.n, self.no_firm, np.int16)
        praised = praise.max(axis=1) > 0
        self.referred[listeners[praised]] = praise[praised].argmax(axis=1)
        own = self.firm[listeners].astype(np.int64)
        buyer = own < self.no_firm
        self.alarmed = np.zeros(self.n, bool)
        self.alarmed[listeners[buyer][criticism[buyer, own[buyer]] > 0]] = True

    def _deliver(
        self,
        speakers: np.ndarray,
        about: np.ndarray,
        sign: np.ndarray,
        tie_dice: np.ndarray,
        world_dice: np.ndarray,
        talkers: int,
        offer: Offer,
        net: SocialNetwork,
        streams: Streams,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Words to one tie each, plus a broadcast with probability ``reach``: (listener, speaker, about, sign).

        The first ``talkers`` words are talk about one's firm, the rest venting; each broadcasts to people
        drawn from its own kind of dice (``BROADCAST``, ``VENT_BROADCAST``).
        """
        to_tie = net.random_neighbour(speakers, tie_dice)
        broadcasters = np.flatnonzero(world_dice < offer.reach)
        size = self.market.broadcast_size
        venting = broadcasters >= talkers
        reached = np.concatenate(
            [
                streams.dice.uniform64(
                    Decision.BROADCAST, self.week, self.identity[speakers[broadcasters[~venting]]], size
                ),
                streams.dice.uniform64(
                    Decision.VENT_BROADCAST, self.week, self.identity[speakers[broadcasters[venting]]], size
                ),
            ]
        )
        broadcasters = np.concatenate([broadcasters[~venting], broadcasters[venting]])
        to_world = (reached * self.n).astype(np.int64).ravel()
        listener = np.concatenate([to_tie, to_world])
        speaker = np.concatenate([speakers, np.repeat(speakers[broadcasters], size)])
        about = np.concatenate([about, np.repeat(about[broadcasters], size)])
        sign = np.concatenate([sign, np.repeat(sign[broadcasters], size)])
        delivered = (listener >= 0) & (listener != speaker)
        return listener[delivered], speaker[delivered], about[delivered], sign[delivered]

    def bond_with_community(self, net: SocialNetwork) -> None:
        """Devoted neighbours at the same firm strengthen one's own bond."""
        cfg, n_firms = self.cfg, self.n_firms
        if cfg.community_bond == 0:
            return
        devoted_at = np.where(self.state == Ladder.DEVOTED, self.firm, n_firms + 1)
        if net.mixed:
            share = np.bincount(devoted_at, minlength=n_firms + 2)[:n_firms] / self.n
            community = np.append(share, 0)[np.minimum(self.firm, n_firms)]
        elif len(net.indices):
            # Devoted ties at each firm, by sparse products over the ties (float32 counts are exact).
            if self._ties is None:
                ones = np.ones(len(net.indices), f32)
                self._ties = csr_matrix((ones, net.indices, net.indptr), shape=(self.n, self.n))
            community = np.zeros(self.n)
            for j in range(n_firms):
                at_j = np.flatnonzero(self.firm == j)
                community[at_j] = (self._ties @ (devoted_at == j).astype(f32))[at_j]
            community /= np.maximum(net.degree, 1)
        else:
            return
        self.bond += (f32(cfg.community_bond) * community * self.bonding).astype(f32)
        np.clip(self.bond, 0, 1, out=self.bond)

    def choose_suppliers(self, offer: Offer, streams: Streams, tally: Tally) -> None:
        """Some reconsider; they pick by logit among available firms and buying nothing."""
        cfg, market, n_firms, no_firm = self.cfg, self.market, self.n_firms, self.no_firm
        has = self.has_firm
        # Ads: at most one per customer per week, from a firm drawn by ad weight.
        ads = np.where(offer.available[:n_firms], offer.advertising[:n_firms], 0)
        ad_dice = streams.dice.uniform(Decision.ADVERTISING, self.week, self.identity, 2).T  # seen, whose
        total = ads.sum()
        saw = ad_dice[0] < min(1.0, market.ad_reach * total)
        ad_firm = np.full(self.n, no_firm, np.int16)
        if total > 0:
            which = np.searchsorted(np.cumsum(ads) / total, ad_dice[1][saw], side="right")
            ad_firm[saw] = which.clip(0, n_firms - 1)
        rival_ad = (ad_firm < no_firm) & (ad_firm != self.firm)
        hazard = np.where(
            has,
            self.restlessness
            * (
                cfg.review_rate
                + cfg.dissatisfied_review * np.maximum(-self.remembered, 0)
                + cfg.negative_wom_review * self.alarmed
                + cfg.ad_prompt * rival_ad
            ),
            cfg.prospect_consider
            + cfg.ad_prompt * (ad_firm < no_firm)
            + cfg.referral_uptake * (self.referred < no_firm),
        )
        looking = np.flatnonzero(streams.dice.uniform(Decision.REVIEW, self.week, self.identity)[:, 0] < hazard)
        _, full = self.perceived(looking, offer)
        u = streams.dice.uniform64(Decision.CHOICE, self.week, self.identity[looking], n_firms + 1)
        gumbel = -np.log(-np.log(u + 1e-12) + 1e-12)
        chosen = np.argmax(full + gumbel, axis=1).astype(np.int16)
        old = self.firm[looking]
        moved = chosen != old
        movers, left, went = looking[moved], old[moved].astype(np.int64), chosen[moved].astype(np.int64)
        # Leavers: an unhappy leaver keeps a grudge against the firm; one who quits for no firm ends the relationship.
        leaving = left < no_firm
        tally.add(Count.DEFECTIONS, left[leaving], segment=self.segment[movers[leaving]])
        tally.add(Count.SWITCHES, left[leaving & (went < no_firm)])
        unhappy = leaving & (self.remembered[movers] < 0)
        grudging = movers[unhappy]
        self.grudge_firm[grudging] = left[unhappy]
        self.grudge[grudging] = np.minimum(-self.remembered[grudging], 1)
        self._renew(movers[leaving & (went == no_firm)], FRESH_ON_QUITTING)
        # Joiners: what prompted the look, whether a discount decided it, then a fresh relationship.
        joining = went < no_firm
        joiners, joined = movers[joining], went[joining]
        channel = np.full(len(joiners), Channel.ORGANIC, np.int8)
        channel[ad_firm[joiners] == joined] = Channel.ADVERTISING
        channel[self.referred[joiners] == joined] = Channel.REFERRAL
        for ch in Channel:
            tally.add(acquired(ch), joined[channel == ch], segment=self.segment[joiners[channel == ch]])
        on_discount = offer.discount[joined] > 0
        tally.add(Count.ACQUIRED_ON_DISCOUNT, joined[on_discount])
        if on_discount.any():
            rows = np.flatnonzero(moved)[joining][on_discount]
            decisive = self._discount_decided(rows, joiners[on_discount], joined[on_discount], full, gumbel, offer)
            tally.add(Count.ACQUIRED_BY_DISCOUNT, joined[on_discount][decisive])
        believed = (
            f32(market.prior_quality)
            + f32(market.ad_claim_weight) * offer.claims[joined].astype(f32)
            + self.heard[joiners, joined]
        )
        self._renew(joiners, FRESH_ON_JOINING)
        self.expectation[joiners] = np.clip(believed, 0, 1)
        self.heard[joiners, joined] = 0  # what was heard of the firm is now the expectation of it
        forgiven = joiners[self.grudge_firm[joiners] == joined]  # no grudge against the firm one rejoins
        self.grudge_firm[forgiven] = no_firm
        self.grudge[forgiven] = 0
        self.joined_week[joiners] = self.week
        self.discount_left[joiners] = np.where(on_discount, market.discount_weeks, 0)
        self.firm[movers] = went.astype(np.int16)

    def _discount_decided(
        self,
        rows: np.ndarray,
        joiners: np.ndarray,
        joined: np.ndarray,
        full: np.ndarray,
        gumbel: np.ndarray,
        offer: Offer,
    ) -> np.ndarray:
        """Whether each joiner would have chosen otherwise at the firm's list price, with the same random draws."""
        reference = self.market.reference_price
        gap = np.array([np.subtract(*offer.relative_prices(j, reference)) for j in range(self.n_firms)], f32)
        sensitivity = self.price_sensitivity[joiners] * f32(offer.price_sensitivity)
        utility = full[rows] + gumbel[rows]
        utility[np.arange(len(rows)), joined] = (full[rows, joined] - sensitivity * gap[joined]) + gumbel[rows, joined]
        return np.argmax(utility, axis=1) != joined

    def pay(self, offer: Offer, tally: Tally) -> None:
        """Customers pay their tariff at the firm's price, less any running discount."""
        firm = self.firm
        on_discount = self.discount_left > 0
        price = offer.price.astype(f32)[firm] * self.tariff
        discounted = np.flatnonzero(on_discount)
        discount = offer.discount.astype(f32)[firm[discounted]]
        tally.add(Count.DISCOUNT_GIVEN, firm[discounted], price[discounted] * discount)
        price[discounted] = price[discounted] * (1 - discount)
        tally.add(Count.REVENUE, firm, price, segment=self.segment)
        tally.add(Count.CUSTOMERS, firm)
        tally.add(Count.BOND_SUM, firm, self.bond)
        tally.add(Count.TRUST_SUM, firm, self.trust)
        tally.add(Count.TARIFF_SUM, firm, self.tariff)
