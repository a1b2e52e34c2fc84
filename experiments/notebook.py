# %% [markdown]
# # The loyalty market in a notebook
#
# Build a market as Mesa models are built, step it, look at its customers and plot.
# Run it cell by cell (VS Code, Jupyter with jupytext), or at once: `python experiments/notebook.py`.

# %%
import numpy as np
from matplotlib.figure import Figure

from sim import Ladder, LoyaltyMarket

# The default experiment: a giving and a taking firm. Keywords are the config's keys (conf/), nested.
model = LoyaltyMarket(rng=3, customers={"n": 3000}, firms={"giving": {"generosity": 0.6}})
print(model.names, model.settings.customers.n)

# %%
# Step it a year, week by week, as any Mesa model.
for _ in range(52):
    model.step()
print("week", model.steps)

# %%
# The customers are arrays (one per declared state variable, sim/model/state.py): who buys where, in
# which ladder state.
c = model.customers
for j, name in enumerate(model.names):
    mine = c.firm == j
    counts = {state.name.lower(): int((mine & (c.state == state)).sum()) for state in Ladder}
    print(name, counts)

# %%
# Devoted vs merely satisfied customers of the giving firm: their bond, trust and remembered experience.
giving = c.firm == model.names.index("giving")
for state in (Ladder.DEVOTED, Ladder.CUSTOMER):
    who = giving & (c.state == state)
    print(
        state.name.lower(),
        f"bond {c.bond[who].mean():.2f}",
        f"trust {c.trust[who].mean():.2f}",
        f"remembered {c.remembered[who].mean():+.2f}",
    )

# %%
# Firm-level records, week by week (Mesa's DataCollector: one row per firm per week).
ts = model.timeseries()
print(ts[ts.week == model.steps][["firm", "share", "customers", "n_devoted", "advocacy", "npv"]])

# %%
# Plot the share of each firm (matplotlib's Figure, saved to a file).
fig = Figure(figsize=(6, 3.5))
ax = fig.subplots()
for firm, g in ts.groupby("firm"):
    ax.plot(g.week, g.share, label=firm)
ax.set(xlabel="week", ylabel="market share", ylim=(0, 1))
ax.legend()
fig.savefig("notebook_share.png")
print("plot: notebook_share.png", np.round(ts.groupby("firm").share.last().to_numpy(), 3))
