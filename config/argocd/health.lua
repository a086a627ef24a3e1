-- Argo CD health of crmauthz's four kinds (PermissionTemplate, SalesGroup,
-- LoginPolicy, IPAllowlist), as kstatus (Flux, kubectl wait) computes it:
-- Progressing until the generation pushed is compiled; then Healthy when it is in
-- force as written, Degraded (saying why) when it is not (Stalled: left out, held at
-- its last good generation, or failing closed).
local hs = {status = "Progressing", message = "Waiting for the policy to be compiled"}
if obj.status == nil or obj.status.observedGeneration ~= obj.metadata.generation then
  return hs
end
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Stalled" and c.status == "True" then
      return {status = "Degraded", message = c.message}
    end
    if c.type == "Ready" then
      if c.status == "True" then hs.status = "Healthy" else hs.status = "Degraded" end
      hs.message = c.message
    end
  end
end
return hs
