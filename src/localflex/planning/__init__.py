"""DSO network planning (paper §5.1, §5.3): flexibility versus reinforcement versus
curtailment per asset and year, and the DSO remuneration regimes that decide which it prefers.

``economics_forecast`` forecasts the overload of every congestion point over the planning years
(power flows on representative days); ``dso_economics`` prices each option and builds the
plans; ``economics_regulation`` holds the remuneration regimes. Import the modules by their
full path (``localflex.planning.dso_economics``): they run power flows, so this package keeps
its import light.
"""
