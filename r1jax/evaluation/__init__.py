"""Evaluation metrics: pass@1 over k samples, pass@k, cons@k, best@k."""
from r1jax.evaluation.passk import best_at_k
from r1jax.evaluation.passk import cons_at_k
from r1jax.evaluation.passk import majority_vote
from r1jax.evaluation.passk import mean_pass_at_k
from r1jax.evaluation.passk import pass_at_1
from r1jax.evaluation.passk import pass_at_k
from r1jax.evaluation.passk import summarize
