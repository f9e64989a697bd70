# %% [markdown]
# # Tutorial
# %%
print(1 + 1)
