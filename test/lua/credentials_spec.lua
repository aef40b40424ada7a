-- busted spec: stacklight.credentials (a password from a file or an environment variable)
local F = require "fake_hindsight"

-- The module in a fake sandbox whose os.getenv sees env_vars.
local function load(env_vars)
    local env = F.sandbox({ env_vars = env_vars or {} })
    return env.require "stacklight.credentials"
end

local function temp_file(content)
    local path = os.tmpname()
    local fh = assert(io.open(path, "wb"))
    fh:write(content)
    fh:close()
    return path
end

describe("credentials", function()
    it("reads a password file without its trailing newlines, and again on every call", function()
        local credentials = load()
        local path = temp_file("s3cret pw\r\n\n")
        assert.are.equal("s3cret pw", credentials.read(path, ""))
        local fh = assert(io.open(path, "wb"))
        fh:write("rotated")
        fh:close()
        assert.are.equal("rotated", credentials.read(path, nil))
        os.remove(path)
    end)

    it("prefers the file to the environment variable", function()
        local credentials = load({ INFLUXDB_PASSWORD = "from-env" })
        local path = temp_file("from-file\n")
        assert.are.equal("from-file", credentials.read(path, "INFLUXDB_PASSWORD"))
        os.remove(path)
        assert.are.equal("from-env", credentials.read("", "INFLUXDB_PASSWORD"))
    end)

    it("says why there is no password, naming the file or the variable", function()
        local credentials = load({ EMPTY = "" })
        local password, err = credentials.read("/nonexistent/secret", "")
        assert.is_nil(password)
        assert.matches("cannot read password_file: /nonexistent/secret", err)
        local path = temp_file("\n")
        password, err = credentials.read(path, "")
        os.remove(path)
        assert.is_nil(password)
        assert.are.equal("password_file " .. path .. " is empty", err)
        assert.are.same({ nil, "environment variable UNSET is not set" }, { credentials.read("", "UNSET") })
        assert.are.same({ nil, "environment variable EMPTY is not set" }, { credentials.read(nil, "EMPTY") })
        assert.are.same({ nil, "username is set but neither password_env nor password_file is" }, { credentials.read("", "") })
    end)

    it("defines no globals", function()
        local before = {}
        for k in pairs(_G) do before[k] = true end
        package.loaded["stacklight.credentials"] = nil
        require "stacklight.credentials"
        for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    end)
end)
