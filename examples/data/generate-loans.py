# Writes loans.csv next to this file: 3,000 synthetic loan applications whose label `approved`
# follows a logistic model of the features plus noise, so a trained model can reach ~0.8 accuracy.
# Deterministic (fixed seed): running it again gives the same bytes, hence the same dataset version.
import math
import os
import random

random.seed(20261129)
regions = ["north", "south", "east", "west"]
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loans.csv")
with open(path, "w", newline="\n") as f:
    f.write("age,income,debt_ratio,credit_lines,late_payments,employment_years,loan_amount,region,approved\n")
    for _ in range(3000):
        age = random.randint(21, 70)
        income = round(random.lognormvariate(10.8, 0.45), 2)
        debt = round(min(1.5, max(0, random.gauss(0.35, 0.15))), 3)
        lines = random.randint(0, 12)
        late = min(10, int(random.expovariate(1.2)))
        emp = round(min(age - 18, random.expovariate(1 / 6)), 1)
        amount = round(random.uniform(1000, 50000), 2)
        region = random.choice(regions)
        score = (-0.5 + 0.00004 * (income - 50000) - 4.0 * (debt - 0.35) - 0.8 * late + 0.08 * emp
                 + 0.05 * lines - 0.00003 * (amount - 25000) + (0.3 if region == "west" else 0))
        z = 2.5 * score + random.gauss(0, 0.6)
        p = 1 / (1 + math.exp(-z))
        y = "true" if random.random() < p else "false"
        f.write(f"{age},{income},{debt},{lines},{late},{emp},{amount},{region},{y}\n")
