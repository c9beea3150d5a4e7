from bot.sandbox.demo import main

main()
