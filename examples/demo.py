"""A small training script with no tracking code: `make demo` runs it under tracelet."""

import argparse

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

n_samples = 2000
test_size = 0.25
max_iter = 200
api_token = "not-for-the-logs"


def train(C=1.0, solver="lbfgs", seed=0):
    X, y = make_classification(n_samples=n_samples, n_features=20, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed
    )
    model = LogisticRegression(C=C, solver=solver, max_iter=max_iter)
    model.fit(X_train, y_train)
    return model.score(X_test, y_test)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--C", type=float, default=0.5, help="inverse regularisation")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(f"accuracy: {train(C=args.C, seed=args.seed):.3f}")
